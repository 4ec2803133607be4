// The IKE SA lifecycle in process, with a fake steady clock: CREATE_CHILD_SA rekeys in
// both directions (PFS, make-before-break through SaSink::rekey, the old pair removed
// when its Delete completes), rekey collisions (§2.8.1), the IKE SA rekey (§1.3.2),
// deletes both ways, liveness checks and the DPD clear action, retransmission with
// back-off, NAT keepalives, stateless cookies under a flood (§2.6), and malformed
// CREATE_CHILD_SA requests. The peer is the minimal initiator of peer.hpp; every key it
// checks is computed here from the RFC formulas, not by the code under test.
#include "peer.hpp"

using namespace espgw::ike;
using namespace ike_test;
using namespace std::chrono_literals;

namespace {

std::string config_text(const std::string& ike_extra) {
    return R"(
[ike]
listen = "10.77.0.1"
)" + ike_extra + R"(
[pools.rw]
cidr = "10.99.0.0/24"
[[connections]]
name = "rw"
local_id = "gw.example.com"
remote_id = "rw@example.com"
psk = "exchange-test-psk-0123"
ike_proposals = ["aes256gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16-ecp256", "aes128gcm16"]
local_ts = ["10.78.0.0/24"]
pool = "rw"
)";
}

Bytes be32(uint32_t v) {
    return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
            static_cast<uint8_t>(v)};
}
uint32_t spi_of(const SaPayload& sa) {
    const Bytes& s = sa.proposals.at(0).spi;
    REQUIRE(s.size() == 4);
    return uint32_t{s[0]} << 24 | uint32_t{s[1]} << 16 | uint32_t{s[2]} << 8 | s[3];
}
std::string keys_hex(const ChildSaKeys& k) {
    return hex(k.encr_i.bytes()) + hex(k.integ_i.bytes()) + hex(k.encr_r.bytes()) + hex(k.integ_r.bytes());
}

const Algorithms ESP_GCM = parse_proposal("aes128gcm16", ProtocolId::ESP);
constexpr uint32_t PEER_SPI1 = 0xc0ffee01;

// An ESP proposal as a peer writes it: AES-GCM-128, optional DH (PFS), no ESN.
Proposal esp_proposal(uint32_t spi, DhGroup dh) {
    Proposal p;
    p.protocol = ProtocolId::ESP;
    p.spi = be32(spi);
    p.transforms.push_back({TransformType::ENCR, ENCR_AES_GCM_16, 128});
    if (dh != DhGroup::NONE) p.transforms.push_back({TransformType::DH, static_cast<uint16_t>(dh), std::nullopt});
    p.transforms.push_back({TransformType::ESN, ESN_NONE, std::nullopt});
    return p;
}

// A gateway with one established IKE SA and one CHILD_SA, on a fake clock at t0.
struct Gw {
    IkeConfig cfg;
    CaptureTransport tx;
    RecordingSink sink;
    IkeManager mgr;
    Initiator ini;
    Clock::time_point t0 = Clock::now();
    uint32_t child_in = 0;  // our inbound SPI of the first CHILD_SA

    explicit Gw(const std::string& ike_extra, bool establish = true)
        : cfg(parse_config(config_text(ike_extra))), mgr(cfg, tx, sink),
          ini{mgr, tx, parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE)} {
        mgr.tick(t0);
        if (!establish) return;
        ini.sa_init(DhGroup::ECP_256, /*fake_nat=*/true);
        mgr.on_message(GW4500, RW4500, ini.auth_request("exchange-test-psk-0123", ESP_GCM, PEER_SPI1));
        const auto inner = ini.decrypt(tx.sent.back().msg);
        REQUIRE(find<SaPayload>(inner, PayloadType::SA));
        child_in = spi_of(*find<SaPayload>(inner, PayloadType::SA));
    }
    const IkeSa& sa() const {
        const IkeSa* s = mgr.find(ini.spi_r);
        REQUIRE(s);
        return *s;
    }
    // The manager's latest request, decrypted.
    Message last_request() const { return ini.open_request(tx.sent.back().msg); }
};

// The peer's CREATE_CHILD_SA request payloads.
std::vector<Payload> child_request(uint32_t rekey_spi, uint32_t new_spi, const Bytes& nonce, const DhKey* dh) {
    std::vector<Payload> p;
    if (rekey_spi) p.push_back(make_notify(NotifyType::REKEY_SA, {}, ProtocolId::ESP, be32(rekey_spi)));
    p.push_back({PayloadType::SA, false, SaPayload{{esp_proposal(new_spi, dh ? dh->group() : DhGroup::NONE)}}});
    p.push_back({PayloadType::NONCE, false, NoncePayload{nonce}});
    if (dh) p.push_back({PayloadType::KE, false, KePayload{static_cast<uint16_t>(dh->group()), dh->public_value()}});
    p.push_back({PayloadType::TSi, false, TsPayload{{ts_from_cidr("10.99.0.1/32")}}});
    p.push_back({PayloadType::TSr, false, TsPayload{{ts_from_cidr("10.78.0.0/24")}}});
    return p;
}

// The peer's answer to our CREATE_CHILD_SA rekey request `req`; returns the KEYMAT the
// peer derives (initiator = the gateway).
std::string answer_rekey(Gw& g, const Message& req, uint32_t peer_new_spi, const Bytes& nr) {
    const auto* ni = req.get<NoncePayload>(PayloadType::NONCE);
    const auto* ke = req.get<KePayload>(PayloadType::KE);
    REQUIRE(ni);
    REQUIRE(ke);
    REQUIRE(ke->group == 19);
    DhKey dh = DhKey::generate(DhGroup::ECP_256);
    auto gir = dh.shared_secret(ke->data);
    REQUIRE(gir);
    g.mgr.on_message(GW4500, RW4500,
                     g.ini.answer(req, {{PayloadType::SA, false, SaPayload{{esp_proposal(peer_new_spi, DhGroup::ECP_256)}}},
                                        {PayloadType::NONCE, false, NoncePayload{nr}},
                                        {PayloadType::KE, false, KePayload{19, dh.public_value()}},
                                        {PayloadType::TSi, false, TsPayload{{ts_from_cidr("10.99.0.1/32")}}},
                                        {PayloadType::TSr, false, TsPayload{{ts_from_cidr("10.78.0.0/24")}}}}));
    return keys_hex(derive_child_sa_keys(Prf(g.ini.ike.prf), g.ini.keys.sk_d.bytes(), ESP_GCM, ni->data, nr, gir->bytes()));
}

const std::string QUIET = "dpd_delay = 0\nkeepalive = 0\n";

}  // namespace

TEST_CASE("peer rekeys a CHILD_SA with PFS: new SPIs, make-before-break, old pair removed on its Delete",
          "[ike][lifecycle]") {
    Gw g(QUIET);
    const DhKey dh = DhKey::generate(DhGroup::ECP_256);
    const Bytes ni(32, 0x51);
    // CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, KEi, TSi, TSr } -->
    const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, child_request(PEER_SPI1, 0xc0ffee02, ni, &dh));
    const auto* sar = find<SaPayload>(r, PayloadType::SA);
    const auto* nr = find<NoncePayload>(r, PayloadType::NONCE);
    const auto* ker = find<KePayload>(r, PayloadType::KE);
    REQUIRE(sar);
    REQUIRE(nr);
    REQUIRE(ker);
    const uint32_t new_in = spi_of(*sar);
    CHECK(new_in != g.child_in);
    // Make-before-break: the new pair replaces the old through SaSink::rekey; nothing removed yet.
    REQUIRE(g.sink.rekeyed_from.size() == 1);
    CHECK(g.sink.rekeyed_from[0] == std::make_pair(g.child_in, PEER_SPI1));
    CHECK(g.sink.installs.back().spi_in == new_in);
    CHECK(g.sink.installs.back().spi_out == 0xc0ffee02);
    CHECK_FALSE(g.sink.installs.back().initiator);
    CHECK(g.sink.removed.empty());
    // §2.17 with PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr).
    auto gir = dh.shared_secret(ker->data);
    REQUIRE(gir);
    CHECK(g.sink.keys_hex.back() ==
          keys_hex(derive_child_sa_keys(Prf(g.ini.ike.prf), g.ini.keys.sk_d.bytes(), ESP_GCM, ni, nr->data, gir->bytes())));
    CHECK(g.sa().children.size() == 2);
    // INFORMATIONAL { D(ESP, old) } --> removes the old pair; the answer names our half.
    const auto d = g.ini.exchange(ExchangeType::INFORMATIONAL,
                                  {{PayloadType::DELETE, false, DeletePayload{ProtocolId::ESP, 4, {be32(PEER_SPI1)}}}});
    const auto* dp = find<DeletePayload>(d, PayloadType::DELETE);
    REQUIRE(dp);
    CHECK(dp->spis.at(0) == be32(g.child_in));
    REQUIRE(g.sink.removed.size() == 1);
    CHECK(g.sink.removed[0] == std::make_pair(g.child_in, PEER_SPI1));
    CHECK(g.sa().children.size() == 1);
    CHECK(g.mgr.counters().child_rekeys == 1);
}

TEST_CASE("peer creates an additional CHILD_SA without PFS", "[ike][lifecycle]") {
    Gw g(QUIET);
    const Bytes ni(32, 0x61);
    const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, child_request(0, 0xc0ffee03, ni, nullptr));
    REQUIRE(find<SaPayload>(r, PayloadType::SA));
    CHECK_FALSE(find<KePayload>(r, PayloadType::KE));
    CHECK(g.sink.rekeyed_from.empty());
    REQUIRE(g.sink.installs.size() == 2);
    CHECK(g.sink.installs[1].spi_out == 0xc0ffee03);
    const auto* nr = find<NoncePayload>(r, PayloadType::NONCE);
    CHECK(g.sink.keys_hex[1] ==
          keys_hex(derive_child_sa_keys(Prf(g.ini.ike.prf), g.ini.keys.sk_d.bytes(), ESP_GCM, ni, nr->data)));
    CHECK(g.sa().children.size() == 2);
}

// `p` (a child_request) with TSi = `cidr`.
std::vector<Payload> with_tsi(std::vector<Payload> p, const char* cidr) {
    for (auto& x : p)
        if (x.type == PayloadType::TSi) x.body = TsPayload{{ts_from_cidr(cidr)}};
    return p;
}

// Libreswan's road warrior without leftsubnet proposes TSi = its own outer address next
// to its CP request. The virtual IP we assign is not inside it, so there is nothing to
// narrow to (§2.9: the answer must be a subset of the proposal): TS_UNACCEPTABLE, with
// the IKE SA kept (§1.2) and the CP reply sent, as strongSwan's charon answers the same
// client (test/interop/ike_libreswan.py runs both against pluto).
TEST_CASE("a road warrior proposing its outer address as TSi gets TS_UNACCEPTABLE; the IKE SA stays",
          "[ike][lifecycle][ts]") {
    Gw g(QUIET, /*establish=*/false);
    g.ini.sa_init(DhGroup::ECP_256, /*fake_nat=*/true);
    g.mgr.on_message(GW4500, RW4500,
                     g.ini.auth_request("exchange-test-psk-0123", ESP_GCM, PEER_SPI1, "10.77.0.2/32"));
    // <-- IKE_AUTH { IDr, AUTH, CP(CFG_REPLY), N(TS_UNACCEPTABLE) }
    const auto inner = g.ini.decrypt(g.tx.sent.back().msg);
    CHECK(find<AuthPayload>(inner, PayloadType::AUTH));
    const auto* cp = find<CpPayload>(inner, PayloadType::CP);
    REQUIRE(cp);
    CHECK(cp->cfg_type == CFG_REPLY);
    bool vip = false;
    for (const auto& a : cp->attrs) vip |= a.type == INTERNAL_IP4_ADDRESS && a.value == Bytes{10, 99, 0, 1};
    CHECK(vip);
    CHECK(find_notify(inner, NotifyType::TS_UNACCEPTABLE));
    CHECK_FALSE(find<SaPayload>(inner, PayloadType::SA));
    CHECK_FALSE(find<TsPayload>(inner, PayloadType::TSi));
    CHECK_FALSE(find<TsPayload>(inner, PayloadType::TSr));
    CHECK(g.sink.installs.empty());
    REQUIRE(g.mgr.ike_sa_count() == 1);
    CHECK(g.sa().state == IkeSaState::ESTABLISHED);
    CHECK(g.sa().virtual_ip == 0x0a630001u);
    CHECK(g.sa().children.empty());

    // The same TSi in a CREATE_CHILD_SA: refused again; the virtual IP is accepted.
    const Bytes ni(32, 0x62);
    auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA,
                            with_tsi(child_request(0, 0xc0ffee02, ni, nullptr), "10.77.0.2/32"));
    CHECK(find_notify(r, NotifyType::TS_UNACCEPTABLE));
    CHECK_FALSE(find<SaPayload>(r, PayloadType::SA));
    CHECK(g.sink.installs.empty());
    r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA,
                       with_tsi(child_request(0, 0xc0ffee03, ni, nullptr), "0.0.0.0/0"));
    REQUIRE(find<SaPayload>(r, PayloadType::SA));
    const auto* tsi = find<TsPayload>(r, PayloadType::TSi);
    REQUIRE(tsi);
    REQUIRE(tsi->selectors.size() == 1);
    CHECK(to_string(tsi->selectors[0]) == "10.99.0.1..10.99.0.1");
    REQUIRE(g.sink.installs.size() == 1);
    CHECK(g.sink.installs[0].spi_out == 0xc0ffee03);
}

TEST_CASE("a CHILD_SA rekey proposing the peer's outer address as TSi is refused; the old pair stays",
          "[ike][lifecycle][ts]") {
    Gw g(QUIET);
    DhKey dh = DhKey::generate(DhGroup::ECP_256);
    const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA,
                                  with_tsi(child_request(PEER_SPI1, 0xc0ffee04, Bytes(32, 0x63), &dh), "10.77.0.2/32"));
    CHECK(find_notify(r, NotifyType::TS_UNACCEPTABLE));
    CHECK_FALSE(find<SaPayload>(r, PayloadType::SA));
    CHECK(g.sink.installs.size() == 1);
    CHECK(g.sink.rekeyed_from.empty());
    CHECK(g.sink.removed.empty());
    REQUIRE(g.sa().children.size() == 1);
    CHECK(g.sa().children[0].info.spi_in == g.child_in);
    CHECK(g.mgr.counters().child_rekeys == 0);
}

TEST_CASE("we rekey a CHILD_SA at its soft lifetime, retransmitting with back-off, then delete the old pair",
          "[ike][lifecycle]") {
    Gw g(QUIET + "rekey_time = 60\nlife_time = 100\nretransmit_timeout = 2.0\nretransmit_base = 2.0\n");
    g.mgr.tick(g.t0 + 59s);
    const size_t before = g.tx.sent.size();
    g.mgr.tick(g.t0 + 60s);
    REQUIRE(g.tx.sent.size() == before + 1);
    const Bytes first = g.tx.sent.back().msg;
    const Message req = g.last_request();
    CHECK(req.header.exchange == ExchangeType::CREATE_CHILD_SA);
    CHECK(req.header.message_id == 0);  // §2.2: our own counter starts at 0
    const auto* rk = req.find_notify(NotifyType::REKEY_SA);
    REQUIRE(rk);
    CHECK(rk->spi == be32(g.child_in));
    // §2.1: unanswered, it is sent again after 2 s, then 4 s later (back-off).
    g.mgr.tick(g.t0 + 61s);
    CHECK(g.tx.sent.size() == before + 1);
    g.mgr.tick(g.t0 + 62s);
    REQUIRE(g.tx.sent.size() == before + 2);
    CHECK(g.tx.sent.back().msg == first);
    g.mgr.tick(g.t0 + 65s);
    CHECK(g.tx.sent.size() == before + 2);
    g.mgr.tick(g.t0 + 66s);
    CHECK(g.tx.sent.size() == before + 3);
    CHECK(g.mgr.counters().retransmits_sent == 2);

    const std::string want = answer_rekey(g, req, 0xc0ffee04, Bytes(32, 0x77));
    REQUIRE(g.sink.rekeyed_from.size() == 1);
    CHECK(g.sink.rekeyed_from[0] == std::make_pair(g.child_in, PEER_SPI1));
    CHECK(g.sink.installs.back().spi_out == 0xc0ffee04);
    CHECK(g.sink.installs.back().initiator);
    CHECK(g.sink.keys_hex.back() == want);
    const uint32_t new_in = g.sink.installs.back().spi_in;
    // The rekey's initiator deletes the old pair: INFORMATIONAL { D(ESP, old in) }.
    const Message del = g.last_request();
    CHECK(del.header.message_id == 1);
    const auto* d = del.get<DeletePayload>(PayloadType::DELETE);
    REQUIRE(d);
    CHECK(d->spis == std::vector<Bytes>{be32(g.child_in)});
    CHECK(g.sink.removed.empty());  // still accepting on the old SPI until the Delete completes
    g.mgr.on_message(GW4500, RW4500,
                     g.ini.answer(del, {{PayloadType::DELETE, false, DeletePayload{ProtocolId::ESP, 4, {be32(PEER_SPI1)}}}}));
    REQUIRE(g.sink.removed.size() == 1);
    CHECK(g.sink.removed[0] == std::make_pair(g.child_in, PEER_SPI1));
    REQUIRE(g.sa().children.size() == 1);
    CHECK(g.sa().children[0].info.spi_in == new_in);

    // The dataplane's soft-lifetime event rekeys too; its hard event deletes.
    const size_t n = g.tx.sent.size();
    g.mgr.on_child_expired(new_in, /*hard=*/false);
    REQUIRE(g.tx.sent.size() == n + 1);
    CHECK(g.last_request().find_notify(NotifyType::REKEY_SA)->spi == be32(new_in));
    g.mgr.on_child_expired(0xdeadbeef, false);  // unknown SPI: ignored
    CHECK(g.tx.sent.size() == n + 1);
}

TEST_CASE("a CHILD_SA at its hard lifetime is deleted", "[ike][lifecycle]") {
    Gw g(QUIET + "rekey_time = 0\nlife_time = 50\n");
    g.mgr.tick(g.t0 + 50s);
    const Message del = g.last_request();
    REQUIRE(del.get<DeletePayload>(PayloadType::DELETE));
    g.mgr.on_message(GW4500, RW4500, g.ini.answer(del, {}));
    CHECK(g.sink.removed.size() == 1);
    CHECK(g.sa().children.empty());
}

TEST_CASE("rekey collision: the new pair with the lowest nonce is deleted by its creator (§2.8.1)", "[ike][lifecycle]") {
    for (const bool ours_lowest : {true, false}) {
        INFO("ours_lowest=" << ours_lowest);
        Gw g(QUIET + "rekey_time = 60\n");
        g.mgr.tick(g.t0 + 60s);
        const Message our_req = g.last_request();
        REQUIRE(our_req.find_notify(NotifyType::REKEY_SA));
        // The peer's own rekey of the same pair crosses ours on the wire.
        const DhKey dh = DhKey::generate(DhGroup::ECP_256);
        const Bytes peer_ni(32, ours_lowest ? 0xff : 0x00);
        const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, child_request(PEER_SPI1, 0xc0ffee05, peer_ni, &dh));
        REQUIRE(find<SaPayload>(r, PayloadType::SA));  // answered normally
        const uint32_t peer_made_in = spi_of(*find<SaPayload>(r, PayloadType::SA));
        // Now the peer answers ours; its Nr decides who made the lowest nonce.
        answer_rekey(g, our_req, 0xc0ffee06, Bytes(32, ours_lowest ? 0x00 : 0xff));
        const Message del = g.last_request();
        const auto* d = del.get<DeletePayload>(PayloadType::DELETE);
        REQUIRE(d);
        REQUIRE(d->spis.size() == 1);
        if (ours_lowest) {
            // Ours is redundant: we delete the pair we made; the old one is the peer's to delete.
            const uint32_t ours_in = g.sink.installs.back().spi_in;
            CHECK(g.sink.installs.back().spi_out == 0xc0ffee06);
            CHECK(d->spis[0] == be32(ours_in));
        } else {
            // Ours won: we delete the old pair; the peer deletes its redundant one.
            CHECK(d->spis[0] == be32(g.child_in));
        }
        CHECK(d->spis[0] != be32(peer_made_in));
    }
}

TEST_CASE("peer rekeys the IKE SA: new SPIs and keys, CHILD_SAs move, old IKE SA deleted by the peer", "[ike][lifecycle]") {
    Gw g(QUIET);
    const DhKey dh = DhKey::generate(DhGroup::ECP_256);
    const Bytes ni(32, 0x33);
    const uint64_t new_spi_i = 0x99aabbccddeeff00ull;
    Proposal p = g.ini.ike_proposal(19);
    for (int i = 56; i >= 0; i -= 8) p.spi.push_back(static_cast<uint8_t>(new_spi_i >> i));
    // CREATE_CHILD_SA { SA, Ni, KEi } -->   <-- { SA, Nr, KEr }
    const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA,
                                  {{PayloadType::SA, false, SaPayload{{p}}},
                                   {PayloadType::NONCE, false, NoncePayload{ni}},
                                   {PayloadType::KE, false, KePayload{19, dh.public_value()}}});
    const auto* sar = find<SaPayload>(r, PayloadType::SA);
    const auto* nr = find<NoncePayload>(r, PayloadType::NONCE);
    const auto* ker = find<KePayload>(r, PayloadType::KE);
    REQUIRE(sar);
    REQUIRE(nr);
    REQUIRE(ker);
    REQUIRE(sar->proposals.at(0).spi.size() == 8);
    uint64_t new_spi_r = 0;
    for (uint8_t b : sar->proposals[0].spi) new_spi_r = new_spi_r << 8 | b;
    REQUIRE(g.mgr.find(new_spi_r));
    CHECK(g.mgr.find(new_spi_r)->children.size() == 1);
    CHECK(g.sa().children.empty());
    // §2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), computed here independently.
    auto gir = dh.shared_secret(ker->data);
    REQUIRE(gir);
    const Prf prf(g.ini.ike.prf);
    Bytes data(gir->bytes().begin(), gir->bytes().end());
    data.insert(data.end(), ni.begin(), ni.end());
    data.insert(data.end(), nr->data.begin(), nr->data.end());
    const Bytes skeyseed = prf.compute(g.ini.keys.sk_d.bytes(), data);
    Bytes seed = ni;
    seed.insert(seed.end(), nr->data.begin(), nr->data.end());
    for (int i = 56; i >= 0; i -= 8) seed.push_back(static_cast<uint8_t>(new_spi_i >> i));
    for (int i = 56; i >= 0; i -= 8) seed.push_back(static_cast<uint8_t>(new_spi_r >> i));
    const size_t pl = prf.out_len(), e = encr_key_bytes(g.ini.ike);
    const auto all = prf.plus(skeyseed, seed, 3 * pl + 2 * e);
    // The old IKE SA is deleted by the peer; its CHILD_SA lives on under the new one.
    const uint64_t old_spi_r = g.ini.spi_r;
    const auto d = g.ini.exchange(ExchangeType::INFORMATIONAL, {{PayloadType::DELETE, false, DeletePayload{ProtocolId::IKE, 0, {}}}});
    CHECK(d.empty());
    CHECK_FALSE(g.mgr.find(old_spi_r));
    CHECK(g.sink.removed.empty());
    CHECK(g.mgr.ike_sa_count() == 1);
    // A liveness check on the new IKE SA (message ID 0) with the new keys is answered.
    g.ini.spi_i = new_spi_i;
    g.ini.spi_r = new_spi_r;
    g.ini.next_id = 0;
    size_t at = pl;  // SK_d, then (AEAD) SK_ei, SK_er
    g.ini.keys.sk_d = espgw::crypto::SecretBytes(all.bytes().subspan(0, pl));
    g.ini.keys.sk_ei = espgw::crypto::SecretBytes(all.bytes().subspan(at, e));
    g.ini.keys.sk_er = espgw::crypto::SecretBytes(all.bytes().subspan(at + e, e));
    CHECK(g.ini.exchange(ExchangeType::INFORMATIONAL, {}).empty());
    CHECK(g.mgr.counters().ike_rekeys == 1);
    // CHILD rekeys now run over the new IKE SA with its SK_d.
    const Bytes cni(32, 0x44);
    const auto cr = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, child_request(PEER_SPI1, 0xc0ffee07, cni, nullptr));
    const auto* cnr = find<NoncePayload>(cr, PayloadType::NONCE);
    REQUIRE(cnr);
    CHECK(g.sink.keys_hex.back() == keys_hex(derive_child_sa_keys(prf, g.ini.keys.sk_d.bytes(), ESP_GCM, cni, cnr->data)));
}

TEST_CASE("we delete a CHILD_SA and the IKE SA; the peer's deletes are answered", "[ike][lifecycle]") {
    Gw g(QUIET);
    REQUIRE(g.mgr.delete_child(g.child_in));
    Message del = g.last_request();
    REQUIRE(del.get<DeletePayload>(PayloadType::DELETE));
    CHECK(del.get<DeletePayload>(PayloadType::DELETE)->protocol == ProtocolId::ESP);
    g.mgr.on_message(GW4500, RW4500, g.ini.answer(del, {}));
    CHECK(g.sink.removed.size() == 1);
    CHECK(g.sa().children.empty());
    CHECK_FALSE(g.mgr.delete_child(0x12345678));
    REQUIRE(g.mgr.delete_ike_sa(g.ini.spi_r));
    del = g.last_request();
    REQUIRE(del.get<DeletePayload>(PayloadType::DELETE));
    CHECK(del.get<DeletePayload>(PayloadType::DELETE)->protocol == ProtocolId::IKE);
    g.mgr.on_message(GW4500, RW4500, g.ini.answer(del, {}));
    CHECK(g.mgr.ike_sa_count() == 0);
}

TEST_CASE("liveness: the peer's check is answered, ours goes out after dpd_delay, a dead peer is cleared",
          "[ike][lifecycle]") {
    Gw g("dpd_delay = 10\nkeepalive = 0\nretransmit_timeout = 1.0\nretransmit_base = 2.0\nretransmit_tries = 2\n");
    // The peer's liveness check: empty INFORMATIONAL, empty answer.
    CHECK(g.ini.exchange(ExchangeType::INFORMATIONAL, {}).empty());
    const size_t n = g.tx.sent.size();
    g.mgr.tick(g.t0 + 9s);
    CHECK(g.tx.sent.size() == n);
    g.mgr.tick(g.t0 + 10s);
    REQUIRE(g.tx.sent.size() == n + 1);
    Message dpd = g.last_request();
    CHECK(dpd.header.exchange == ExchangeType::INFORMATIONAL);
    CHECK(dpd.payloads.empty());
    // Answered: the peer is alive, the next check waits another dpd_delay.
    g.mgr.on_message(GW4500, RW4500, g.ini.answer(dpd, {}));
    g.mgr.tick(g.t0 + 15s);
    CHECK(g.tx.sent.size() == n + 1);
    g.mgr.tick(g.t0 + 20s);
    REQUIRE(g.tx.sent.size() == n + 2);
    // Now silent: sent again after 1 s, then 2 s later (back-off 2), then given up
    // 4 s after that: the DPD action clear removes the IKE SA and its CHILD_SA.
    g.mgr.tick(g.t0 + 21s);
    CHECK(g.tx.sent.size() == n + 3);
    g.mgr.tick(g.t0 + 22s);
    CHECK(g.tx.sent.size() == n + 3);
    g.mgr.tick(g.t0 + 23s);
    CHECK(g.tx.sent.size() == n + 4);
    g.mgr.tick(g.t0 + 26s);
    CHECK(g.mgr.ike_sa_count() == 1);
    g.mgr.tick(g.t0 + 27s);
    CHECK(g.mgr.ike_sa_count() == 0);
    REQUIRE(g.sink.removed.size() == 1);
    CHECK(g.sink.removed[0] == std::make_pair(g.child_in, PEER_SPI1));
    CHECK(g.mgr.counters().peers_dead == 1);
}

TEST_CASE("NAT keepalives go to a peer behind NAT every keepalive seconds", "[ike][lifecycle]") {
    Gw g("dpd_delay = 0\nkeepalive = 20\n");
    g.mgr.tick(g.t0 + 1s);
    CHECK(g.tx.keepalives.empty());
    g.mgr.tick(g.t0 + 21s);
    REQUIRE(g.tx.keepalives.size() == 1);
    CHECK(g.tx.keepalives[0].first == GW4500);
    CHECK(g.tx.keepalives[0].second == RW4500);
    g.mgr.tick(g.t0 + 30s);
    CHECK(g.tx.keepalives.size() == 1);
    g.mgr.tick(g.t0 + 41s);
    CHECK(g.tx.keepalives.size() == 2);
}

TEST_CASE("cookies: a flood of IKE_SA_INIT from many addresses is answered statelessly, a real client completes",
          "[ike][lifecycle]") {
    Gw g(QUIET + "cookie_threshold = 10\nhalf_open_timeout = 30\n", /*establish=*/false);
    const DhKey flood_dh = DhKey::generate(DhGroup::ECP_256);
    for (uint32_t i = 0; i < 300; ++i) {
        Header h;
        h.spi_i = 0x1000 + i;
        h.flags = FLAG_INITIATOR;
        const Bytes m = encode_message(
            h, {{PayloadType::SA, false, SaPayload{{g.ini.ike_proposal(19)}}},
                {PayloadType::KE, false, KePayload{19, flood_dh.public_value()}},
                {PayloadType::NONCE, false, NoncePayload{Bytes(32, static_cast<uint8_t>(i))}}});
        g.mgr.on_message(GW500, Endpoint{0xc6336400 + i, 500}, m);
    }
    CHECK(g.mgr.half_open_count() == 10);
    CHECK(g.mgr.ike_sa_count() == 10);
    CHECK(g.mgr.counters().cookies_sent == 290);
    Message last;
    REQUIRE(parse_message(g.tx.sent.back().msg, last) == ParseError::OK);
    REQUIRE(last.payloads.size() == 1);
    CHECK(last.header.spi_r == 0);  // §2.6: no state kept
    // The legitimate client: first a COOKIE, then the retry carrying it completes.
    const Message c = g.ini.sa_init(DhGroup::ECP_256, true);
    const auto* cookie = c.find_notify(NotifyType::COOKIE);
    REQUIRE(cookie);
    CHECK_FALSE(c.get<KePayload>(PayloadType::KE));
    // A forged cookie is refused and counted.
    g.ini.cookie = cookie->data;
    g.ini.cookie.back() ^= 1;
    CHECK(g.ini.sa_init(DhGroup::ECP_256, true).find_notify(NotifyType::COOKIE));
    CHECK(g.mgr.counters().cookies_rejected == 1);
    g.ini.cookie = cookie->data;
    const Message r = g.ini.sa_init(DhGroup::ECP_256, true);
    REQUIRE(r.get<KePayload>(PayloadType::KE));
    CHECK(g.mgr.counters().cookies_accepted == 1);
    g.mgr.on_message(GW4500, RW4500, g.ini.auth_request("exchange-test-psk-0123", ESP_GCM, PEER_SPI1));
    CHECK(find<AuthPayload>(g.ini.decrypt(g.tx.sent.back().msg), PayloadType::AUTH));
    CHECK(g.sink.installs.size() == 1);
    // The flood's half-open SAs expire; the established one stays.
    g.mgr.tick(g.t0 + 31s);
    CHECK(g.mgr.half_open_count() == 0);
    CHECK(g.mgr.ike_sa_count() == 1);
    CHECK(g.mgr.counters().half_open_expired == 10);
}

TEST_CASE("malformed or unacceptable CREATE_CHILD_SA requests get an error notify and change nothing", "[ike][lifecycle]") {
    Gw g(QUIET);
    const DhKey dh = DhKey::generate(DhGroup::ECP_256);
    const DhKey dh25519 = DhKey::generate(DhGroup::CURVE25519);
    const Bytes ni(32, 0x21);
    auto expect = [&](std::vector<Payload> req, NotifyType want) {
        const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, req);
        CHECK(find_notify(r, want));
        CHECK_FALSE(find<SaPayload>(r, PayloadType::SA));
    };
    auto without = [](std::vector<Payload> p, PayloadType t) {
        std::erase_if(p, [&](const Payload& x) { return x.type == t; });
        return p;
    };
    expect(without(child_request(PEER_SPI1, 0xc0ffee08, ni, &dh), PayloadType::NONCE), NotifyType::INVALID_SYNTAX);
    expect(without(child_request(0, 0xc0ffee08, ni, nullptr), PayloadType::TSr), NotifyType::INVALID_SYNTAX);
    expect(child_request(0x0badf00d, 0xc0ffee08, ni, &dh), NotifyType::CHILD_SA_NOT_FOUND);
    expect(child_request(PEER_SPI1, 0xc0ffee08, Bytes(8, 1), &dh), NotifyType::INVALID_SYNTAX);  // nonce < 16
    {
        auto p = child_request(PEER_SPI1, 0xc0ffee08, ni, &dh);
        p[3] = {PayloadType::KE, false, KePayload{31, dh25519.public_value()}};  // KE not of the chosen group
        const auto r = g.ini.exchange(ExchangeType::CREATE_CHILD_SA, p);
        const auto* n = find_notify(r, NotifyType::INVALID_KE_PAYLOAD);
        REQUIRE(n);
        CHECK(n->data == Bytes{0, 19});
    }
    {
        auto p = child_request(0, 0xc0ffee08, ni, nullptr);
        p[0] = {PayloadType::SA, false, SaPayload{{[] {
                    Proposal x = esp_proposal(0xc0ffee08, DhGroup::NONE);
                    x.transforms[0].key_len_bits = 256;  // AES-GCM-256: not configured
                    return x;
                }()}}};
        expect(p, NotifyType::NO_PROPOSAL_CHOSEN);
    }
    {
        auto p = child_request(0, 0xc0ffee08, ni, nullptr);
        p.back() = {PayloadType::TSr, false, TsPayload{{ts_from_cidr("192.168.0.0/16")}}};
        expect(p, NotifyType::TS_UNACCEPTABLE);
    }
    // An IKE rekey without KE.
    {
        Proposal ip = g.ini.ike_proposal(19);
        ip.spi = Bytes(8, 7);
        expect({{PayloadType::SA, false, SaPayload{{ip}}}, {PayloadType::NONCE, false, NoncePayload{ni}}},
               NotifyType::INVALID_SYNTAX);
    }
    CHECK(g.sink.installs.size() == 1);
    CHECK(g.sink.rekeyed_from.empty());
    CHECK(g.sa().children.size() == 1);
    CHECK(g.mgr.ike_sa_count() == 1);
    CHECK(g.mgr.counters().child_rekeys == 0);
}

TEST_CASE("lifecycle config keys: defaults, life_time from rekey_time, refusals", "[ike][lifecycle][config]") {
    const IkeConfig d = parse_config(config_text(""));
    CHECK(d.child_rekey_time_s == 3600);
    CHECK(d.child_life_time_s == 3960);
    CHECK(d.dpd_delay_s == 30);
    CHECK(d.keepalive_s == 20);
    CHECK(d.retransmit_tries == 5);
    CHECK(d.cookie_threshold == 64);
    const IkeConfig c = parse_config(config_text(
        "rekey_time = 100\ndpd_delay = 5\nkeepalive = 0\nretransmit_timeout = 0.5\nretransmit_base = 1.5\n"
        "retransmit_tries = 3\ncookie_threshold = 0\ncookie_secret_time = 10\nhalf_open_timeout = 7\n"));
    CHECK(c.child_rekey_time_s == 100);
    CHECK(c.child_life_time_s == 110);  // default: rekey_time * 1.1
    CHECK(c.dpd_delay_s == 5);
    CHECK(c.keepalive_s == 0);
    CHECK(c.retransmit_timeout_s == 0.5);
    CHECK(c.retransmit_base == 1.5);
    CHECK(c.retransmit_tries == 3);
    CHECK(c.cookie_threshold == 0);
    CHECK(c.cookie_secret_s == 10);
    CHECK(c.half_open_timeout_s == 7);
    CHECK_THROWS_WITH(parse_config(config_text("rekey_time = 100\nlife_time = 100\n")), Catch::Contains("ike.life_time"));
    CHECK_THROWS_WITH(parse_config(config_text("dpd_delay = -1\n")), Catch::Contains("ike.dpd_delay"));
    CHECK_THROWS_WITH(parse_config(config_text("retransmit_base = 0.5\n")), Catch::Contains("ike.retransmit_base"));
    CHECK_THROWS_WITH(parse_config(config_text("cookie_secret_time = 0\n")), Catch::Contains("ike.cookie_secret_time"));
}

TEST_CASE("cookie_threshold = 0 demands a cookie from every initiator", "[ike][lifecycle]") {
    Gw g(QUIET + "cookie_threshold = 0\n", /*establish=*/false);
    const Message c = g.ini.sa_init(DhGroup::ECP_256, true);
    REQUIRE(c.find_notify(NotifyType::COOKIE));
    CHECK(g.mgr.ike_sa_count() == 0);
    g.ini.cookie = c.find_notify(NotifyType::COOKIE)->data;
    // The same cookie is valid from the same address only.
    g.ini.from = Endpoint{0x0a4d0003, 500};
    CHECK(g.ini.sa_init(DhGroup::ECP_256, true).find_notify(NotifyType::COOKIE));
    g.ini.from = RW500;
    CHECK(g.ini.sa_init(DhGroup::ECP_256, true).get<KePayload>(PayloadType::KE));
    CHECK(g.mgr.ike_sa_count() == 1);
}

TEST_CASE("the cookie secret changes every cookie_secret_time; the previous one stays valid once", "[ike][lifecycle]") {
    for (const int periods : {1, 2}) {
        INFO("periods=" << periods);
        Gw g(QUIET + "cookie_threshold = 0\ncookie_secret_time = 10\n", /*establish=*/false);
        const Message c = g.ini.sa_init(DhGroup::ECP_256, true);
        REQUIRE(c.find_notify(NotifyType::COOKIE));
        g.ini.cookie = c.find_notify(NotifyType::COOKIE)->data;
        for (int i = 1; i <= periods; ++i) g.mgr.tick(g.t0 + std::chrono::seconds(10 * i));
        const Message r = g.ini.sa_init(DhGroup::ECP_256, true);
        CHECK((r.get<KePayload>(PayloadType::KE) != nullptr) == (periods == 1));
    }
}

TEST_CASE("our CHILD rekey answered with INVALID_KE_PAYLOAD is retried once with the peer's group", "[ike][lifecycle]") {
    Gw g(QUIET + "rekey_time = 60\n");
    g.mgr.tick(g.t0 + 60s);
    const Message first = g.last_request();
    REQUIRE(first.get<KePayload>(PayloadType::KE)->group == 19);
    g.mgr.on_message(GW4500, RW4500, g.ini.answer(first, {make_notify(NotifyType::INVALID_KE_PAYLOAD, {0, 31})}));
    const Message retry = g.last_request();
    CHECK(retry.header.message_id == first.header.message_id + 1);
    const auto* ke = retry.get<KePayload>(PayloadType::KE);
    REQUIRE(ke);
    CHECK(ke->group == 31);
    const auto* sai = retry.get<SaPayload>(PayloadType::SA);
    REQUIRE(sai);
    bool offers31 = false;
    for (const auto& t : sai->proposals.at(0).transforms)
        offers31 = offers31 || (t.type == TransformType::DH && t.id == 31);
    CHECK(offers31);
    const DhKey dh = DhKey::generate(DhGroup::CURVE25519);
    auto gir = dh.shared_secret(ke->data);
    REQUIRE(gir);
    const Bytes nr(32, 0x5a);
    g.mgr.on_message(GW4500, RW4500,
                     g.ini.answer(retry, {{PayloadType::SA, false, SaPayload{{esp_proposal(0xc0ffee09, DhGroup::CURVE25519)}}},
                                          {PayloadType::NONCE, false, NoncePayload{nr}},
                                          {PayloadType::KE, false, KePayload{31, dh.public_value()}},
                                          {PayloadType::TSi, false, TsPayload{{ts_from_cidr("10.99.0.1/32")}}},
                                          {PayloadType::TSr, false, TsPayload{{ts_from_cidr("10.78.0.0/24")}}}}));
    REQUIRE(g.sink.rekeyed_from.size() == 1);
    CHECK(g.sink.installs.back().spi_out == 0xc0ffee09);
    CHECK(g.sink.keys_hex.back() == keys_hex(derive_child_sa_keys(Prf(g.ini.ike.prf), g.ini.keys.sk_d.bytes(), ESP_GCM,
                                                                  retry.get<NoncePayload>(PayloadType::NONCE)->data, nr,
                                                                  gir->bytes())));
}

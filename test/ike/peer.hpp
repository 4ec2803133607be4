#pragma once
// Test doubles and a minimal IKEv2 initiator built from the codec and key schedule
// (independent of the tasks under test), shared by the in-process exchange tests.
#include "control/ike/crypto_dh.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/proposal.hpp"
#include "control/ike/sk_payload.hpp"
#include "control/ike/tasks.hpp"
#include "control/ike/traffic_selector.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <cstring>

namespace ike_test {
using namespace espgw::ike;


inline const char* kConfig = R"(
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
    std::vector<std::pair<uint32_t, uint32_t>> rekeyed_from;  // old pair of each rekey()
    bool rekey(uint32_t old_in, uint32_t old_out, const ChildSaInfo& i, const ChildSaKeys& k) override {
        rekeyed_from.emplace_back(old_in, old_out);
        return install(i, k);
    }
};

inline const Endpoint GW500{0x0a4d0001, 500}, GW4500{0x0a4d0001, 4500};
inline const Endpoint RW500{0x0a4d0002, 500}, RW4500{0x0a4d0002, 4500};

inline Bytes str(const char* s) { return Bytes(s, s + std::strlen(s)); }

struct Initiator {
    IkeManager& mgr;
    CaptureTransport& tx;
    Algorithms ike;
    uint64_t spi_i = 0x1122334455667788ull, spi_r = 0;
    Bytes ni = Bytes(32, 0x42), nr, init_req, init_resp;
    Bytes cookie;              // §2.6: sent first in IKE_SA_INIT when set
    Endpoint from = RW500;     // source of IKE_SA_INIT
    uint32_t next_id = 2;      // our next request's message ID after IKE_AUTH
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
        std::vector<Payload> first;
        if (!cookie.empty()) first.push_back(make_notify(NotifyType::COOKIE, cookie));
        std::vector<Payload> rest{{PayloadType::SA, false, SaPayload{{ike_proposal(static_cast<uint16_t>(ike.dh))}}},
                {PayloadType::KE, false, KePayload{static_cast<uint16_t>(ke_group), dh->public_value()}},
                {PayloadType::NONCE, false, NoncePayload{ni}},
                make_notify(NotifyType::NAT_DETECTION_SOURCE_IP, natd_hash(spi_i, 0, src)),
                make_notify(NotifyType::NAT_DETECTION_DESTINATION_IP, natd_hash(spi_i, 0, GW500))};
        first.insert(first.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
        init_req = encode_message(h, first);
        const size_t before = tx.sent.size();
        mgr.on_message(GW500, from, init_req);
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

    // The manager's own request (encrypted with SK_er/SK_ar): header and payloads.
    Message open_request(const Bytes& wire) const {
        Message m;
        REQUIRE(parse_message(wire, m) == ParseError::OK);
        REQUIRE_FALSE(m.header.is_response());
        Message inner;
        inner.header = m.header;
        ParseError pe;
        REQUIRE(decrypt_message(wire, *m.get<SkPayload>(PayloadType::SK), ike,
                                SkKeys{keys.sk_er.bytes(), keys.sk_ar.bytes()}, inner.payloads, pe) == SkError::OK);
        REQUIRE(pe == ParseError::OK);
        return inner;
    }

    // Our response to the manager's request `req`.
    Bytes answer(const Message& req, const std::vector<Payload>& p) const {
        Header h;
        h.spi_i = spi_i;
        h.spi_r = spi_r;
        h.exchange = req.header.exchange;
        h.flags = FLAG_INITIATOR | FLAG_RESPONSE;
        h.message_id = req.header.message_id;
        return encrypt_message(h, p, ike, SkKeys{keys.sk_ei.bytes(), keys.sk_ai.bytes()});
    }

    // Sends our next request and returns the decrypted response payloads.
    std::vector<Payload> exchange(ExchangeType ex, const std::vector<Payload>& p, const Endpoint& l = GW4500,
                                  const Endpoint& r = RW4500) {
        const size_t before = tx.sent.size();
        mgr.on_message(l, r, encrypt(ex, next_id++, p));
        REQUIRE(tx.sent.size() == before + 1);
        return decrypt(tx.sent.back().msg);
    }

    // `tsi`: the TSi we propose (0.0.0.0/0, as strongSwan's road warriors do; Libreswan's
    // default client proposes its own outer address).
    Bytes auth_request(const char* psk, const Algorithms& esp, uint32_t esp_spi,
                       const char* tsi = "0.0.0.0/0") const {
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
                        {PayloadType::TSi, false, TsPayload{{ts_from_cidr(tsi)}}},
                        {PayloadType::TSr, false, TsPayload{{ts_from_cidr("0.0.0.0/0")}}}});
    }
};

template <class T>
inline const T* find(const std::vector<Payload>& ps, PayloadType t) {
    for (const auto& p : ps)
        if (p.type == t) return std::get_if<T>(&p.body);
    return nullptr;
}
inline const NotifyPayload* find_notify(const std::vector<Payload>& ps, NotifyType n) {
    for (const auto& p : ps)
        if (const auto* x = std::get_if<NotifyPayload>(&p.body); x && x->type == n) return x;
    return nullptr;
}

}  // namespace ike_test

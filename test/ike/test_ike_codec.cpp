// IKE message codec: round trip of every payload type, and each malformation mapped to
// its named error; random corruption never crashes the parser.
#include "control/ike/message.hpp"
#include "hex.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace espgw::ike;

namespace {
Message sample_message() {
    Message m;
    m.header.spi_i = 0x0102030405060708ull;
    m.header.spi_r = 0;
    m.header.exchange = ExchangeType::IKE_SA_INIT;
    m.header.flags = FLAG_INITIATOR;
    Proposal p;
    p.number = 1;
    p.protocol = ProtocolId::IKE;
    p.transforms = {{TransformType::ENCR, ENCR_AES_GCM_16, 256},
                    {TransformType::PRF, PRF_HMAC_SHA2_256, std::nullopt},
                    {TransformType::DH, 19, std::nullopt}};
    Proposal esp;
    esp.number = 2;
    esp.protocol = ProtocolId::ESP;
    esp.spi = {1, 2, 3, 4};
    esp.transforms = {{TransformType::ENCR, ENCR_AES_CBC, 128}, {TransformType::INTEG, AUTH_HMAC_SHA2_256_128, std::nullopt},
                      {TransformType::ESN, ESN_NONE, std::nullopt}};
    m.payloads.push_back({PayloadType::SA, false, SaPayload{{p, esp}}});
    m.payloads.push_back({PayloadType::KE, false, KePayload{19, Bytes(64, 7)}});
    m.payloads.push_back({PayloadType::NONCE, false, NoncePayload{Bytes(32, 9)}});
    m.payloads.push_back(make_notify(NotifyType::NAT_DETECTION_SOURCE_IP, Bytes(20, 1)));
    m.payloads.push_back({PayloadType::IDi, false, IdPayload{IdType::RFC822_ADDR, {'a', '@', 'b'}}});
    m.payloads.push_back({PayloadType::AUTH, false, AuthPayload{AuthMethod::SHARED_KEY_MIC, Bytes(32, 3)}});
    m.payloads.push_back({PayloadType::DELETE, false, DeletePayload{ProtocolId::ESP, 4, {{1, 2, 3, 4}, {5, 6, 7, 8}}}});
    TrafficSelector ts;
    ts.start_addr = {10, 0, 0, 0};
    ts.end_addr = {10, 0, 0, 255};
    m.payloads.push_back({PayloadType::TSi, false, TsPayload{{ts}}});
    m.payloads.push_back({PayloadType::CP, false, CpPayload{CFG_REQUEST, {{INTERNAL_IP4_ADDRESS, {}}, {INTERNAL_IP4_DNS, {}}}}});
    m.payloads.push_back({PayloadType::VENDOR_ID, false, RawPayload{{'x', 'y'}}});
    return m;
}
}  // namespace

TEST_CASE("every payload type survives encode then parse unchanged", "[ike][codec]") {
    const Message m = sample_message();
    const Bytes wire = encode_message(m.header, m.payloads);
    Message r;
    REQUIRE(parse_message(wire, r) == ParseError::OK);
    CHECK(r.header.spi_i == m.header.spi_i);
    CHECK(r.header.exchange == ExchangeType::IKE_SA_INIT);
    CHECK(r.header.length == wire.size());
    REQUIRE(r.payloads.size() == m.payloads.size());
    const auto& sa = std::get<SaPayload>(r.payloads[0].body);
    REQUIRE(sa.proposals.size() == 2);
    CHECK(sa.proposals[0].transforms == std::get<SaPayload>(m.payloads[0].body).proposals[0].transforms);
    CHECK(sa.proposals[1].spi == Bytes{1, 2, 3, 4});
    CHECK(std::get<KePayload>(r.payloads[1].body).group == 19);
    CHECK(r.find_notify(NotifyType::NAT_DETECTION_SOURCE_IP)->data == Bytes(20, 1));
    CHECK(std::get<IdPayload>(r.payloads[4].body).type == IdType::RFC822_ADDR);
    CHECK(std::get<DeletePayload>(r.payloads[6].body).spis.size() == 2);
    CHECK(std::get<TsPayload>(r.payloads[7].body).selectors[0].end_addr == Bytes{10, 0, 0, 255});
    CHECK(std::get<CpPayload>(r.payloads[8].body).attrs.size() == 2);
    CHECK(std::get<RawPayload>(r.payloads[9].body).body == Bytes{'x', 'y'});
    // Re-encoding gives the same bytes.
    CHECK(encode_message(r.header, r.payloads) == wire);
}

TEST_CASE("each malformation is reported with its named error", "[ike][codec]") {
    const Message m = sample_message();
    const Bytes wire = encode_message(m.header, m.payloads);
    Message r;
    CHECK(parse_message(std::span(wire).first(27), r) == ParseError::TRUNCATED_HEADER);
    {
        Bytes b = wire;
        b[17] = 0x30;  // major version 3
        CHECK(parse_message(b, r) == ParseError::BAD_MAJOR_VERSION);
    }
    {
        Bytes b = wire;
        b.push_back(0);  // datagram longer than the header says
        CHECK(parse_message(b, r) == ParseError::LENGTH_MISMATCH);
    }
    {
        Bytes b = wire;
        b[28 + 2] = 0;  // first payload length 3
        b[28 + 3] = 3;
        CHECK(parse_message(b, r) == ParseError::BAD_PAYLOAD_LENGTH);
    }
    {
        Bytes b = wire;
        b[28 + 2] = 0xff;  // first payload runs past the end
        CHECK(parse_message(b, r) == ParseError::TRUNCATED_PAYLOAD);
    }
    {
        // An unknown payload type with the critical bit (§2.5).
        Header h = m.header;
        Bytes b = encode_message(h, {{static_cast<PayloadType>(200), true, RawPayload{{1}}}});
        CHECK(parse_message(b, r) == ParseError::UNSUPPORTED_CRITICAL);
        Bytes ok = encode_message(h, {{static_cast<PayloadType>(200), false, RawPayload{{1}}}});
        CHECK(parse_message(ok, r) == ParseError::OK);
    }
    {
        // Transform count larger than the transforms present.
        Bytes b = wire;
        b[28 + 4 + 7] += 1;  // first proposal's "# of transforms"
        CHECK(parse_message(b, r) == ParseError::BAD_TRANSFORM);
    }
    {
        Header h = m.header;
        TrafficSelector t;
        t.ts_type = 99;
        t.start_addr = {1, 2, 3, 4};
        t.end_addr = {1, 2, 3, 4};
        CHECK(parse_message(encode_message(h, {{PayloadType::TSi, false, TsPayload{{t}}}}), r) ==
              ParseError::BAD_TRAFFIC_SELECTOR);
        DeletePayload d{ProtocolId::ESP, 4, {{1, 2, 3, 4}}};
        Bytes b = encode_message(h, {{PayloadType::DELETE, false, d}});
        b[28 + 4 + 3] = 2;  // claims two SPIs, carries one
        CHECK(parse_message(b, r) == ParseError::BAD_DELETE);
        NotifyPayload n{ProtocolId::ESP, {1, 2, 3, 4}, NotifyType::REKEY_SA, {}};
        Bytes nb = encode_message(h, {{PayloadType::NOTIFY, false, n}});
        nb[28 + 4 + 1] = 9;  // SPI size past the payload end
        CHECK(parse_message(nb, r) == ParseError::BAD_NOTIFY);
        CpPayload cp{CFG_REQUEST, {{INTERNAL_IP4_ADDRESS, {1, 2, 3, 4}}}};
        Bytes cb = encode_message(h, {{PayloadType::CP, false, cp}});
        cb[28 + 4 + 4 + 3] = 9;  // attribute length past the end
        CHECK(parse_message(cb, r) == ParseError::BAD_CP_ATTRIBUTE);
    }
    CHECK(name(ParseError::SK_NOT_LAST) == "sk_not_last");
}

TEST_CASE("an SK payload followed by another payload is rejected", "[ike][codec]") {
    // Hand-built: header -> SK (4 + 4 bytes body) -> trailing bytes inside the datagram.
    Header h;
    h.exchange = ExchangeType::IKE_AUTH;
    Bytes b(28);
    Bytes chain = {0, 0, 0, 8, 1, 2, 3, 4, /* garbage after SK */ 0, 0, 0, 4};
    b.insert(b.end(), chain.begin(), chain.end());
    h.next_payload = PayloadType::SK;
    h.length = static_cast<uint32_t>(b.size());
    encode_header(h, b);
    Message r;
    CHECK(parse_message(b, r) == ParseError::SK_NOT_LAST);
}

TEST_CASE("random corruption of a valid message never crashes the parser", "[ike][codec]") {
    const Message m = sample_message();
    const Bytes wire = encode_message(m.header, m.payloads);
    std::mt19937 rng(12345);
    for (int i = 0; i < 20000; ++i) {
        Bytes b = wire;
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) b[28 + rng() % (b.size() - 28)] = static_cast<uint8_t>(rng());
        if (rng() % 4 == 0) b.resize(28 + rng() % (b.size() - 28));
        // Keep the header length consistent so the payload parsers are exercised.
        espgw::ike::Header h;
        REQUIRE(parse_header(b, h) == ParseError::OK);
        h.length = static_cast<uint32_t>(b.size());
        encode_header(h, b);
        Message r;
        (void)parse_message(b, r);
    }
    SUCCEED("no crash");
}

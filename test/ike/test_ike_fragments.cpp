// IKE fragmentation (RFC 7383): the SKF codec and reassembly (round trips with AES-GCM
// and AES-CBC+HMAC, out of order, duplicates, a forged fragment dropped, limits,
// timeouts, re-fragmentation), then two IkeManagers back to back whose IKE_AUTH
// messages exceed a small fragment_size in both directions, with a lost fragment
// retransmitted and the fragmented response replayed.
#include "control/ike/config.hpp"
#include "control/ike/fragments.hpp"
#include "control/ike/proposal.hpp"
#include "pair.hpp"

#include <fmt/format.h>

#include <functional>
#include <string>

using namespace espgw::ike;
using namespace ike_test;

namespace {

struct Keys {
    Bytes encr, integ;
    SkKeys sk() const { return SkKeys{encr, integ}; }
};

Keys keys_for(const Algorithms& a, uint8_t seed) {
    Keys k;
    k.encr.assign(a.encr_key_bits / 8 + (a.aead() ? 4 : 0), seed);
    if (!a.aead()) k.integ.assign(64, static_cast<uint8_t>(seed + 1));
    return k;
}

Header request_header(uint32_t id) {
    Header h;
    h.spi_i = 0x0102030405060708ull;
    h.spi_r = 0x1112131415161718ull;
    h.exchange = ExchangeType::IKE_AUTH;
    h.flags = FLAG_INITIATOR;
    h.message_id = id;
    return h;
}

// An IKE_AUTH-like inner chain of about `bytes` bytes (a big CERT and a notify).
std::vector<Payload> big_inner(size_t bytes) {
    Bytes cert(bytes);
    for (size_t i = 0; i < cert.size(); ++i) cert[i] = static_cast<uint8_t>(i * 7 + 3);
    cert[0] = 4;  // X.509 certificate - signature
    std::vector<Payload> p;
    p.push_back({PayloadType::IDi, false, IdPayload{IdType::FQDN, str("rw.example.com")}});
    p.push_back({PayloadType::CERT, false, RawPayload{cert}});
    p.push_back(make_notify(NotifyType::INITIAL_CONTACT));
    return p;
}

struct Frags {
    std::vector<Bytes> msgs;
    std::vector<SkfView> views;
};

Frags split(const Algorithms& a, const Keys& k, uint32_t id, size_t inner_bytes, size_t max) {
    Frags f;
    f.msgs = seal_message(request_header(id), big_inner(inner_bytes), a, k.sk(), max);
    for (const auto& m : f.msgs) {
        SkfView v;
        REQUIRE(parse_skf(m, v));
        f.views.push_back(v);
    }
    return f;
}

void check_payloads(const std::vector<Payload>& got, size_t inner_bytes) {
    const auto want = big_inner(inner_bytes);
    REQUIRE(got.size() == want.size());
    CHECK(got[0].type == PayloadType::IDi);
    CHECK(std::get<IdPayload>(got[0].body).data == str("rw.example.com"));
    CHECK(got[1].type == PayloadType::CERT);
    CHECK(std::get<RawPayload>(got[1].body).body == std::get<RawPayload>(want[1].body).body);
    CHECK(got[2].type == PayloadType::NOTIFY);
}

const auto T0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);

}  // namespace

TEST_CASE("fragments: a message that fits stays one SK message", "[ike][fragments]") {
    const Algorithms a = parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE);
    const Keys k = keys_for(a, 9);
    const auto msgs = seal_message(request_header(1), big_inner(200), a, k.sk(), 1000);
    REQUIRE(msgs.size() == 1);
    Message m;
    REQUIRE(parse_message(msgs[0], m) == ParseError::OK);
    CHECK(m.header.next_payload == PayloadType::SK);
    // 0: never fragment.
    CHECK(seal_message(request_header(1), big_inner(5000), a, k.sk(), 0).size() == 1);
    CHECK(max_ike_message(1280, false) == 1252);
    CHECK(max_ike_message(1280, true) == 1248);
}

TEST_CASE("fragments: split and reassembled in order and out of order, GCM and CBC+HMAC", "[ike][fragments]") {
    for (const char* prop : {"aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048", "aes256-sha512-modp2048"}) {
        INFO(prop);
        const Algorithms a = parse_proposal(prop, ProtocolId::IKE);
        const Keys k = keys_for(a, 5);
        const Frags f = split(a, k, 1, 3000, 548);
        REQUIRE(f.msgs.size() >= 6);
        for (size_t i = 0; i < f.msgs.size(); ++i) {
            CHECK(f.msgs[i].size() <= 548);
            CHECK(f.views[i].number == i + 1);
            CHECK(f.views[i].total == f.msgs.size());
            CHECK(f.views[i].header.message_id == 1);
            // §2.5: only fragment 1 names the first inner payload.
            CHECK(f.views[i].first_inner == (i == 0 ? PayloadType::IDi : PayloadType::NONE));
        }
        for (bool reverse : {false, true}) {
            Reassembly r;
            FragmentCounters c;
            std::vector<size_t> order(f.msgs.size());
            for (size_t i = 0; i < order.size(); ++i) order[i] = reverse ? order.size() - 1 - i : i;
            for (size_t n = 0; n < order.size(); ++n) {
                const size_t i = order[n];
                const auto res = r.add(f.msgs[i], f.views[i], a, k.sk(), T0, FragmentLimits{}, c);
                CHECK(res == (n + 1 == order.size() ? Reassembly::Result::COMPLETE : Reassembly::Result::KEPT));
            }
            std::vector<Payload> inner;
            REQUIRE(r.take(inner) == ParseError::OK);
            check_payloads(inner, 3000);
            CHECK_FALSE(r.active());
            CHECK(c.fragments_bad == 0);
        }
    }
}

TEST_CASE("fragments: duplicates counted, a forged fragment dropped before it is kept", "[ike][fragments]") {
    const Algorithms a = parse_proposal("aes128-sha256-modp2048", ProtocolId::IKE);
    const Keys k = keys_for(a, 1);
    const Frags f = split(a, k, 3, 2000, 576);
    REQUIRE(f.msgs.size() >= 3);
    Reassembly r;
    FragmentCounters c;
    CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::KEPT);
    CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::DUPLICATE);
    CHECK(c.fragments_duplicate == 1);

    // A forged fragment 2: one ciphertext bit flipped.
    Bytes forged = f.msgs[1];
    forged[forged.size() / 2] ^= 0x01;
    CHECK(r.add(forged, f.views[1], a, k.sk(), T0, {}, c) == Reassembly::Result::BAD);
    // Renumbered: fragment 2's bytes claiming to be fragment 3 (the numbers are authenticated).
    Bytes renumbered = f.msgs[1];
    renumbered[IKE_HEADER_LEN + 5] = 3;
    SkfView rv;
    REQUIRE(parse_skf(renumbered, rv));
    CHECK(r.add(renumbered, rv, a, k.sk(), T0, {}, c) == Reassembly::Result::BAD);
    // Forged with another key (an attacker without SK_a) and a bigger Total Fragments:
    // it must not restart the reassembly.
    const Keys wrong = keys_for(a, 77);
    const Frags other = split(a, wrong, 3, 6000, 576);
    CHECK(r.add(other.msgs[0], other.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::BAD);
    CHECK(c.fragments_bad == 3);
    CHECK(r.active());

    for (size_t i = 1; i < f.msgs.size(); ++i) {
        const auto res = r.add(f.msgs[i], f.views[i], a, k.sk(), T0, {}, c);
        CHECK(res == (i + 1 == f.msgs.size() ? Reassembly::Result::COMPLETE : Reassembly::Result::KEPT));
    }
    std::vector<Payload> inner;
    REQUIRE(r.take(inner) == ParseError::OK);
    check_payloads(inner, 2000);
}

TEST_CASE("fragments: limits on count, size and age; re-fragmentation starts over", "[ike][fragments]") {
    const Algorithms a = parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE);
    const Keys k = keys_for(a, 2);
    const Frags f = split(a, k, 1, 3000, 576);
    REQUIRE(f.msgs.size() >= 6);
    SECTION("too many fragments") {
        Reassembly r;
        FragmentCounters c;
        FragmentLimits lim;
        lim.max_fragments = 4;
        CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0, lim, c) == Reassembly::Result::LIMIT);
        CHECK(c.fragments_dropped == 1);
        CHECK_FALSE(r.active());
    }
    SECTION("too many bytes") {
        Reassembly r;
        FragmentCounters c;
        FragmentLimits lim;
        lim.max_bytes = 1200;
        Reassembly::Result last = Reassembly::Result::KEPT;
        for (size_t i = 0; i < f.msgs.size() && last == Reassembly::Result::KEPT; ++i)
            last = r.add(f.msgs[i], f.views[i], a, k.sk(), T0, lim, c);
        CHECK(last == Reassembly::Result::LIMIT);
        CHECK_FALSE(r.active());  // everything held is dropped
    }
    SECTION("an unfinished reassembly times out") {
        Reassembly r;
        FragmentCounters c;
        CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::KEPT);
        // 31 s later the old part is gone: fragment 1 is new again, not a duplicate.
        CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0 + std::chrono::seconds(31), {}, c) ==
              Reassembly::Result::KEPT);
        CHECK(c.reassembly_timeouts == 1);
        CHECK(c.fragments_duplicate == 0);
        // The timer drops it too, without another fragment arriving.
        r.expire(T0 + std::chrono::seconds(61), {}, c);
        CHECK_FALSE(r.active());
        CHECK(c.reassembly_timeouts == 2);
    }
    SECTION("a larger Total Fragments restarts; a smaller one is stale") {
        const Frags small = split(a, k, 1, 3000, 1000);  // the first try, bigger fragments
        REQUIRE(small.msgs.size() < f.msgs.size());
        Reassembly r;
        FragmentCounters c;
        CHECK(r.add(small.msgs[0], small.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::KEPT);
        // The sender re-fragmented smaller (§2.6): start over with the new set.
        Reassembly::Result res{};
        for (size_t i = 0; i < f.msgs.size(); ++i) {
            res = r.add(f.msgs[i], f.views[i], a, k.sk(), T0, {}, c);
            if (i == 0) CHECK(r.add(small.msgs[1], small.views[1], a, k.sk(), T0, {}, c) == Reassembly::Result::BAD);
        }
        CHECK(res == Reassembly::Result::COMPLETE);
        std::vector<Payload> inner;
        REQUIRE(r.take(inner) == ParseError::OK);
        check_payloads(inner, 3000);
    }
    SECTION("a new message ID drops the old one") {
        const Frags next = split(a, k, 2, 500, 576);
        Reassembly r;
        FragmentCounters c;
        CHECK(r.add(f.msgs[0], f.views[0], a, k.sk(), T0, {}, c) == Reassembly::Result::KEPT);
        Reassembly::Result res{};
        for (size_t i = 0; i < next.msgs.size(); ++i) res = r.add(next.msgs[i], next.views[i], a, k.sk(), T0, {}, c);
        CHECK(res == Reassembly::Result::COMPLETE);
        CHECK(r.message_id() == 2);
    }
}

TEST_CASE("fragments: malformed SKF messages are refused by the parser", "[ike][fragments]") {
    const Algorithms a = parse_proposal("aes256gcm16-prfsha256-ecp256", ProtocolId::IKE);
    const Keys k = keys_for(a, 2);
    const Frags f = split(a, k, 1, 1500, 576);
    SkfView v;
    Bytes m = f.msgs[1];
    m[IKE_HEADER_LEN + 5] = 0;  // Fragment Number 0
    CHECK_FALSE(parse_skf(m, v));
    m = f.msgs[1];
    m[IKE_HEADER_LEN + 5] = static_cast<uint8_t>(f.msgs.size() + 1);  // above Total Fragments
    CHECK_FALSE(parse_skf(m, v));
    m = f.msgs[1];
    m[IKE_HEADER_LEN] = 35;  // a non-first fragment naming an inner payload
    CHECK_FALSE(parse_skf(m, v));
    m = f.msgs[1];
    m.pop_back();  // truncated: lengths disagree
    CHECK_FALSE(parse_skf(m, v));
    CHECK_FALSE(parse_skf(Bytes(20, 0), v));
}

// ---- two IkeManagers back to back --------------------------------------------------

namespace {

// 40 selectors on each side make both IKE_AUTH messages about 1 KB: above a
// fragment_size of 576 in both directions, whatever the proposal.
std::string subnets(int base) {
    std::string s = "[";
    for (int i = 0; i < 40; ++i) s += std::string(i ? ", " : "") + fmt::format("\"10.{}.{}.0/24\"", base, i);
    return s + "]";
}

std::string conf(bool initiator, const std::string& frag) {
    const std::string mine = subnets(initiator ? 1 : 2), theirs = subnets(initiator ? 2 : 1);
    return fmt::format(R"([ike]
listen = "{}"
{}
[[connections]]
name = "s2s"
local_id = "{}"
remote_id = "{}"
{}
psk = "site-to-site-psk-0123"
ike_proposals = ["aes128-sha256-modp2048"]
esp_proposals = ["aes128gcm16"]
local_ts = {}
remote_ts = {}
)",
                       initiator ? "10.77.0.1" : "10.77.0.2", frag, initiator ? "a.example.com" : "b.example.com",
                       initiator ? "b.example.com" : "a.example.com",
                       initiator ? "remote_addr = \"10.77.0.2\"\nstart_action = \"none\"" : "", mine, theirs);
}

bool is_fragment(const Bytes& m) {
    Header h;
    return parse_header(m, h) == ParseError::OK && h.next_payload == PayloadType::SKF;
}

size_t largest(const CaptureTransport& tx) {
    size_t n = 0;
    for (const auto& s : tx.sent) n = std::max(n, s.msg.size());
    return n;
}

}  // namespace

TEST_CASE("fragments: IKE_AUTH over a 576-byte path in both directions", "[ike][fragments][exchange]") {
    const std::string frag = "fragmentation = \"yes\"\nfragment_size = 576";
    Pair p(conf(true, frag), conf(false, frag));
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    REQUIRE(p.sink_b.installs.size() == 1);
    CHECK(p.sink_a.keys_hex[0] == p.sink_b.keys_hex[0]);
    CHECK(p.sink_a.installs[0].ts_local.size() == 40);
    // Both IKE_AUTH messages went in fragments, none longer than 576 - 28.
    CHECK(p.a.counters().fragments.messages_fragmented == 1);
    CHECK(p.b.counters().fragments.messages_fragmented == 1);
    CHECK(p.a.counters().fragments.messages_reassembled == 1);
    CHECK(p.b.counters().fragments.messages_reassembled == 1);
    CHECK(p.b.counters().fragments.fragments_received == p.a.counters().fragments.fragments_sent);
    CHECK(p.a.counters().fragments.fragments_received == p.b.counters().fragments.fragments_sent);
    CHECK(p.a.counters().fragments.fragments_sent >= 2);
    CHECK(largest(p.tx_a) <= 548);
    CHECK(largest(p.tx_b) <= 548);
    CHECK(p.a.find(p.a.spis().at(0))->state == IkeSaState::ESTABLISHED);
}

TEST_CASE("fragments: a lost fragment is retransmitted with all its siblings and the response replayed",
          "[ike][fragments][exchange]") {
    const std::string frag = "fragmentation = \"yes\"\nfragment_size = 576";
    Pair p(conf(true, frag), conf(false, frag));
    // The responder's second response fragment is lost once.
    int lost = 0;
    p.drop = [&](const CaptureTransport::Sent& s, bool from_a) {
        SkfView v;
        if (from_a || !parse_skf(s.msg, v) || v.number != 2) return false;
        return lost++ == 0;
    };
    auto t = std::chrono::steady_clock::now();
    p.a.tick(t);
    p.b.tick(t);
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    CHECK(p.sink_a.installs.empty());
    CHECK(p.sink_b.installs.size() == 1);
    const uint64_t sent_before = p.a.counters().fragments.fragments_sent;
    t += std::chrono::seconds(5);  // retransmit_timeout 4 s: the initiator sends every fragment again
    p.a.tick(t);
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    CHECK(p.a.counters().retransmits_sent == 1);
    CHECK(p.a.counters().fragments.fragments_sent == 2 * sent_before);
    // §2.6.1: the responder answers the retransmission once (on fragment 1), with every fragment.
    CHECK(p.b.counters().retransmits_answered == 1);
    CHECK(p.b.counters().fragments.messages_fragmented == 1);  // replayed, not rebuilt
    CHECK(p.sink_b.installs.size() == 1);
    CHECK(p.a.counters().fragments.messages_reassembled == 1);
}

TEST_CASE("fragments: off on one side means whole messages; force fragments anyway", "[ike][fragments][exchange]") {
    SECTION("responder with fragmentation = no") {
        Pair p(conf(true, "fragment_size = 576"), conf(false, "fragmentation = \"no\""));
        REQUIRE(p.a.initiate("s2s"));
        p.pump();
        REQUIRE(p.sink_a.installs.size() == 1);
        CHECK(p.a.counters().fragments.messages_fragmented == 0);
        CHECK(p.b.counters().fragments.messages_fragmented == 0);
        for (const auto& s : p.tx_a.sent) CHECK_FALSE(is_fragment(s.msg));
        CHECK(largest(p.tx_a) > 548);
    }
    SECTION("both announce: the IKE_SA_INIT response carries the notify") {
        Pair p(conf(true, "fragment_size = 576"), conf(false, ""));
        REQUIRE(p.a.initiate("s2s"));
        p.pump();
        Message m;
        REQUIRE(parse_message(p.tx_b.sent.at(0).msg, m) == ParseError::OK);
        CHECK(m.find_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED) != nullptr);
        REQUIRE(parse_message(p.tx_a.sent.at(0).msg, m) == ParseError::OK);
        CHECK(m.find_notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED) != nullptr);
    }
    SECTION("fragments to a responder with fragmentation = no are dropped") {
        Pair p(conf(true, "fragmentation = \"force\"\nfragment_size = 576"), conf(false, "fragmentation = \"no\""));
        REQUIRE(p.a.initiate("s2s"));
        p.pump();
        CHECK(p.sink_b.installs.empty());
        CHECK(p.b.counters().fragments.fragments_dropped == p.a.counters().fragments.fragments_sent);
    }
}

TEST_CASE("fragments: config keys", "[ike][fragments][config]") {
    auto base = [](const std::string& ike) { return conf(true, ike); };
    const IkeConfig d = parse_config(base(""));
    CHECK(d.fragmentation.mode == FragmentationMode::YES);
    CHECK(d.fragmentation.fragment_size == 1280);
    CHECK(parse_config(base("fragmentation = \"force\"")).fragmentation.mode == FragmentationMode::FORCE);
    CHECK(parse_config(base("fragmentation = false")).fragmentation.mode == FragmentationMode::NO);
    CHECK(parse_config(base("fragment_size = 576")).fragmentation.fragment_size == 576);
    CHECK_THROWS_WITH(parse_config(base("fragmentation = \"maybe\"")), Catch::Contains("ike.fragmentation"));
    CHECK_THROWS_WITH(parse_config(base("fragment_size = 500")), Catch::Contains("ike.fragment_size"));
    CHECK_THROWS_WITH(parse_config(base("fragment_size = \"big\"")), Catch::Contains("ike.fragment_size"));
}

TEST_CASE("fragments: an unfragmented retransmitted request gets every fragment of the response again",
          "[ike][fragments][exchange]") {
    // The initiator's IKE_AUTH (about 1.4 KB) fits its 2000-byte fragment size; the
    // responder's answer does not fit its 576.
    Pair p(conf(true, "fragment_size = 2000"), conf(false, "fragment_size = 576"));
    int lost = 0;
    p.drop = [&](const CaptureTransport::Sent& s, bool from_a) {
        SkfView v;
        if (from_a || !parse_skf(s.msg, v) || v.number != v.total) return false;
        return lost++ == 0;  // the last response fragment is lost once
    };
    auto t = std::chrono::steady_clock::now();
    p.a.tick(t);
    p.b.tick(t);
    REQUIRE(p.a.initiate("s2s"));
    p.pump();
    CHECK(p.a.counters().fragments.messages_fragmented == 0);
    CHECK(p.b.counters().fragments.messages_fragmented == 1);
    CHECK(p.sink_a.installs.empty());
    const uint64_t sent = p.b.counters().fragments.fragments_sent;
    t += std::chrono::seconds(5);
    p.a.tick(t);
    p.pump();
    REQUIRE(p.sink_a.installs.size() == 1);
    CHECK(p.b.counters().retransmits_answered == 1);
    CHECK(p.b.counters().fragments.fragments_sent == 2 * sent);
    CHECK(p.a.counters().fragments.fragments_duplicate == sent - 1);
}

// dataplane/tables: SA install/lookup/replace/delete, SPD first match, lifetime
// events, RCU-deferred reclamation with key wipe. EAL without PCI or hugepages.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>

#include <array>
#include <random>
#include <cstring>
#include <vector>

#include "dataplane/tables/publish.hpp"
#include "dataplane/tables/reader.hpp"
#include "dataplane/tables/spd.hpp"
#include "dataplane/tables/writer.hpp"

using namespace espgw;
using namespace espgw::tables;

namespace {

Limits small_limits() {
    Limits l;
    l.max_sas = 64;
    l.max_ids = 256;
    l.max_policies = 64;
    l.workers = 2;
    l.event_ring_size = 64;
    return l;
}

/// AES-GCM-128 keymat (key || salt) derived from the SPI, so a test can tell SAs apart.
std::array<uint8_t, 20> keymat_for(uint32_t spi) {
    std::array<uint8_t, 20> k{};
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>((spi * 2654435761u) >> (i % 4 * 8)) ^ static_cast<uint8_t>(i + 1);
    return k;
}

struct Sa {
    std::array<uint8_t, 20> km;
    SaParams p;
};

Sa make_sa(uint32_t id, Direction dir, uint32_t spi, Lifetime life = {}) {
    Sa s;
    s.km = keymat_for(spi);
    s.p.id = id;
    s.p.dir = dir;
    s.p.cfg.spi = spi;
    s.p.cfg.suite = {crypto::Cipher::aes_gcm_128, crypto::Integ::none};
    s.p.cfg.mode = esp::Mode::tunnel;
    s.p.cfg.tunnel_src = net::IpAddr::v4(0xC0000201);
    s.p.cfg.tunnel_dst = net::IpAddr::v4(0xC6336402);
    s.p.life = life;
    return s;
}

WriteResult install(Tables& t, Sa s) {
    s.p.enc_keymat = s.km;
    return install_sa(t, s.p);
}
WriteResult replace(Tables& t, Sa s) {
    s.p.enc_keymat = s.km;
    return replace_sa(t, s.p);
}

bool all_zero(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i)
        if (b[i]) return false;
    return true;
}

Policy v4_policy(uint32_t prio, const char* src, uint8_t src_len, const char* dst, uint8_t dst_len, PolicyAction a,
                 uint32_t sa_id = 0) {
    Policy p;
    p.priority = prio;
    p.family = 4;
    auto parse = [](const char* s, uint8_t* out) {
        unsigned a, b, c, d;
        REQUIRE(std::sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) == 4);
        out[0] = static_cast<uint8_t>(a), out[1] = static_cast<uint8_t>(b), out[2] = static_cast<uint8_t>(c), out[3] = static_cast<uint8_t>(d);
    };
    parse(src, p.src);
    parse(dst, p.dst);
    p.src_len = src_len;
    p.dst_len = dst_len;
    p.action = a;
    p.sa_id = sa_id;
    return p;
}

SpdKey v4_key(const uint8_t* src, const uint8_t* dst, uint8_t proto = 17, uint16_t sport = 1000, uint16_t dport = 53) {
    SpdKey k;
    k.family = 4;
    k.src = src;
    k.dst = dst;
    k.proto = proto;
    k.src_port = sport;
    k.dst_port = dport;
    return k;
}

}  // namespace

TEST_CASE("inbound SA installed is found by SPI, replaced make-before-break, gone after delete") {
    auto t = Tables::create("tt_in", small_limits());
    Reader r(*t, 0);
    REQUIRE(install(*t, make_sa(7, Direction::in, 0x1000)).ok());
    InRef ref;
    REQUIRE(r.inbound(0x1000, ref));
    CHECK(ref.sa->spi == 0x1000);
    CHECK(ref.id == 7);
    CHECK(std::memcmp(ref.sa->session.salt, keymat_for(0x1000).data() + 16, 4) == 0);
    CHECK_FALSE(r.inbound(0x1001, ref));

    // Duplicate id / SPI refused, nothing changes.
    CHECK(install(*t, make_sa(7, Direction::in, 0x2000)).status == WriteStatus::id_in_use);
    CHECK(install(*t, make_sa(8, Direction::in, 0x1000)).status == WriteStatus::spi_in_use);

    // Replace with a new SPI: the old SPI stops resolving, the new one resolves to id 7.
    const uint32_t old_slot = ref.slot;
    REQUIRE(replace(*t, make_sa(7, Direction::in, 0x3000)).ok());
    CHECK_FALSE(r.inbound(0x1000, ref));
    REQUIRE(r.inbound(0x3000, ref));
    CHECK(ref.id == 7);
    CHECK(ref.slot != old_slot);
    // Replace with the same SPI: the lookup switches to the new slot.
    const uint32_t slot2 = ref.slot;
    REQUIRE(replace(*t, make_sa(7, Direction::in, 0x3000)).ok());
    REQUIRE(r.inbound(0x3000, ref));
    CHECK(ref.slot != slot2);
    CHECK(replace(*t, make_sa(7, Direction::out, 0x3000)).status == WriteStatus::no_such_sa);

    REQUIRE(delete_sa(*t, 7).ok());
    CHECK_FALSE(r.inbound(0x3000, ref));
    CHECK(delete_sa(*t, 7).status == WriteStatus::no_such_sa);
    r.quiescent();
    reclaim(*t, false);
    CHECK(usage(*t).pending == 0);
    CHECK(usage(*t).in == 0);
}

TEST_CASE("outbound SA is found by id; a same-SPI replacement never reuses sequence numbers") {
    auto t = Tables::create("tt_out", small_limits());
    Reader r(*t, 0);
    REQUIRE(install(*t, make_sa(3, Direction::out, 0xabc)).ok());
    REQUIRE(install(*t, make_sa(4, Direction::in, 0xabd)).ok());
    OutRef o;
    REQUIRE(r.outbound(3, o));
    CHECK(o.sa->spi == 0xabc);
    CHECK_FALSE(r.outbound(4, o));  // an inbound id is not an outbound SA
    CHECK_FALSE(r.outbound(5, o));
    CHECK_FALSE(r.outbound(100000, o));

    REQUIRE(r.outbound(3, o));
    o.st->seq = 500;  // the owner sent 500 packets
    REQUIRE(replace(*t, make_sa(3, Direction::out, 0xabc)).ok());
    REQUIRE(r.outbound(3, o));
    CHECK(o.st->seq >= 500 + (1u << 20));
    REQUIRE(replace(*t, make_sa(3, Direction::out, 0xdef)).ok());
    REQUIRE(r.outbound(3, o));
    CHECK(o.sa->spi == 0xdef);
    CHECK(o.st->seq == 0);

    auto list = list_sas(*t);
    REQUIRE(list.size() == 2);
    CHECK(list[0].id == 3);
    CHECK(list[0].dir == Direction::out);
    CHECK(list[0].spi == 0xdef);
    CHECK(list[1].id == 4);
    CHECK(list[1].dir == Direction::in);
}

TEST_CASE("transport mode SAs (no tunnel endpoints, ESP-in-UDP) are accepted and listed with their mode") {
    // What espgw-ike installs for a transport CHILD_SA (RFC 7296 §1.3.1) behind a NAT.
    auto t = Tables::create("tt_transport", small_limits());
    for (const Direction d : {Direction::in, Direction::out}) {
        Sa s = make_sa(d == Direction::in ? 7 : 8, d, d == Direction::in ? 0x1007 : 0x1008);
        s.p.cfg.mode = esp::Mode::transport;
        s.p.cfg.tunnel_src = {};
        s.p.cfg.tunnel_dst = {};
        s.p.cfg.udp_encap = true;
        s.p.cfg.udp_src_port = 4500;
        s.p.cfg.udp_dst_port = 14500;
        REQUIRE(install(*t, s).ok());
    }
    Reader r(*t, 0);
    OutRef o;
    REQUIRE(r.outbound(8, o));
    CHECK(o.sa->mode == esp::Mode::transport);
    CHECK(o.sa->outer_hdr_bytes == 8);  // the UDP header only
    const auto list = list_sas(*t);
    REQUIRE(list.size() == 2);
    for (const SaInfo& i : list) {
        CHECK(i.mode == esp::Mode::transport);
        CHECK(i.udp_encap);
    }
    REQUIRE(install(*t, make_sa(9, Direction::out, 0x1009)).ok());
    CHECK(list_sas(*t).back().mode == esp::Mode::tunnel);
}

TEST_CASE("bad SA parameters are refused and leave no SA behind") {
    auto t = Tables::create("tt_bad", small_limits());
    Sa s = make_sa(1, Direction::out, 0x55);
    s.p.cfg.tunnel_dst = net::IpAddr{};  // tunnel mode without a destination
    WriteResult w = install(*t, s);
    CHECK(w.status == WriteStatus::bad_params);
    CHECK_FALSE(w.error.empty());
    CHECK(install(*t, make_sa(300, Direction::in, 0x56)).status == WriteStatus::bad_id);
    Sa o = make_sa(2, Direction::in, 0x57);
    o.p.owner = 5;  // only 2 workers
    CHECK(install(*t, o).status == WriteStatus::bad_params);
    CHECK(list_sas(*t).empty());
    // All 64 slots are still usable.
    for (uint32_t i = 0; i < 64; ++i) REQUIRE(install(*t, make_sa(i, Direction::in, 0x1000 + i)).ok());
    CHECK(install(*t, make_sa(64, Direction::in, 0x2000)).status == WriteStatus::no_space);
}

TEST_CASE("SPD: first match by priority, bypass and discard, republished on change") {
    auto t = Tables::create("tt_spd", small_limits());
    Reader r(*t, 0);
    REQUIRE(install(*t, make_sa(9, Direction::out, 0x900)).ok());
    uint32_t p_protect = 0, p_bypass = 0, p_discard = 0;
    // Installed out of priority order on purpose.
    REQUIRE(install_policy(*t, v4_policy(300, "0.0.0.0", 0, "0.0.0.0", 0, PolicyAction::discard), &p_discard).ok());
    REQUIRE(install_policy(*t, v4_policy(100, "10.0.0.0", 8, "10.2.0.0", 16, PolicyAction::protect, 9), &p_protect).ok());
    Policy dns = v4_policy(50, "10.1.0.0", 16, "0.0.0.0", 0, PolicyAction::bypass);
    dns.proto = 17;
    dns.dst_port_lo = dns.dst_port_hi = 53;
    REQUIRE(install_policy(*t, dns, &p_bypass).ok());

    const uint8_t a_10_1[4] = {10, 1, 2, 3}, a_10_2[4] = {10, 2, 9, 9}, a_11[4] = {11, 0, 0, 1};
    CHECK(r.spd(v4_key(a_10_1, a_10_2)).kind == SpdMatch::no_match);  // not built yet
    REQUIRE(refresh(*t).spd);
    CHECK_FALSE(refresh(*t).spd);  // unchanged generation

    CHECK(r.spd(v4_key(a_10_1, a_10_2, 17, 1000, 53)).kind == SpdMatch::bypass);  // prio 50 wins over 100
    SpdMatch m = r.spd(v4_key(a_10_1, a_10_2, 17, 1000, 54));
    REQUIRE(m.kind == SpdMatch::protect);
    CHECK(m.sa_id == 9);
    OutRef o;
    REQUIRE(r.outbound(m.sa_id, o));
    CHECK(o.sa->spi == 0x900);
    CHECK(r.spd(v4_key(a_11, a_10_2)).kind == SpdMatch::discard);
    const uint8_t v6a[16] = {0xfd}, v6b[16] = {0xfd, 1};
    SpdKey k6 = v4_key(v6a, v6b);
    k6.family = 6;
    CHECK(r.spd(k6).kind == SpdMatch::no_match);  // no IPv6 entries

    // Deleting the bypass: DNS from 10.1/16 is now protected.
    REQUIRE(delete_policy(*t, p_bypass).ok());
    CHECK(delete_policy(*t, p_bypass).status == WriteStatus::no_such_policy);
    REQUIRE(refresh(*t).spd);
    CHECK(r.spd(v4_key(a_10_1, a_10_2, 17, 1000, 53)).kind == SpdMatch::protect);

    Policy bad = v4_policy(1, "1.2.3.4", 33, "0.0.0.0", 0, PolicyAction::bypass);
    CHECK(install_policy(*t, bad, nullptr).status == WriteStatus::bad_params);
    Policy v6 = v4_policy(1, "0.0.0.0", 0, "0.0.0.0", 0, PolicyAction::discard);
    v6.family = 6;
    v6.dst[0] = 0xfd;
    v6.dst_len = 8;
    REQUIRE(install_policy(*t, v6, nullptr).ok());
    REQUIRE(refresh(*t).spd);
    CHECK(r.spd(k6).kind == SpdMatch::discard);
    // The retired classifiers wait for the reader's quiescent state, then are freed.
    CHECK(retired_count(*t) == 2);
    CHECK(refresh(*t).freed == 0);
    r.quiescent();
    CHECK(refresh(*t).freed == 2);
    CHECK(retired_count(*t) == 0);
}

TEST_CASE("lifetimes: soft raises one event, hard marks the SA dead and raises one event") {
    auto t = Tables::create("tt_life", small_limits());
    Reader r(*t, 1);
    Lifetime life;
    life.soft_packets = 3;
    life.hard_packets = 5;
    life.hard_bytes = 1 << 20;
    REQUIRE(install(*t, make_sa(11, Direction::in, 0xb00, life)).ok());
    Lifetime out_life;
    out_life.soft_bytes = 1000;
    REQUIRE(install(*t, make_sa(12, Direction::out, 0xb01, out_life)).ok());

    InRef in;
    std::array<Event, 8> ev;
    for (int pkt = 1; pkt <= 6; ++pkt) {
        REQUIRE(r.inbound(0xb00, in));
        CHECK(in.dead == (pkt > 5));
        in.st->packets += 1;  // what the ESP transform does on the owner
        in.st->bytes += 100;
        r.charge(in);
        const size_t n = poll_events(*t, ev);
        if (pkt == 3) {
            REQUIRE(n == 1);
            CHECK(ev[0].kind == EventKind::soft_expired);
            CHECK(ev[0].sa_id == 11);
            CHECK(ev[0].spi == 0xb00);
            CHECK(ev[0].dir == Direction::in);
        } else if (pkt == 5) {
            REQUIRE(n == 1);
            CHECK(ev[0].kind == EventKind::hard_expired);
        } else {
            CHECK(n == 0);
        }
    }
    SaCounters c;
    REQUIRE(query_counters(*t, 11, c));
    CHECK(c.packets == 6);
    CHECK(c.bytes == 600);
    CHECK(c.soft_expired);
    CHECK(c.hard_expired);

    OutRef o;
    REQUIRE(r.outbound(12, o));
    o.st->packets = 1;
    o.st->bytes = 999;
    r.charge(o);
    CHECK(poll_events(*t, ev) == 0);
    o.st->bytes = 1000;
    r.charge(o);
    REQUIRE(poll_events(*t, ev) == 1);
    CHECK(ev[0].kind == EventKind::soft_expired);
    CHECK(ev[0].dir == Direction::out);
    CHECK_FALSE(o.dead);
    REQUIRE(query_counters(*t, 12, c));
    CHECK_FALSE(c.hard_expired);
}

TEST_CASE("a full event ring retries the event on the next packet") {
    Limits l = small_limits();
    l.event_ring_size = 4;  // 3 usable entries
    auto t = Tables::create("tt_ring", l);
    Reader r(*t, 0);
    Lifetime life;
    life.soft_packets = 1;
    for (uint32_t i = 0; i < 4; ++i) REQUIRE(install(*t, make_sa(i, Direction::in, 0x100 + i, life)).ok());
    InRef in;
    for (uint32_t i = 0; i < 4; ++i) {
        REQUIRE(r.inbound(0x100 + i, in));
        in.st->packets = 1;
        r.charge(in);
    }
    std::array<Event, 8> ev;
    CHECK(poll_events(*t, ev) == 3);
    REQUIRE(r.inbound(0x103, in));
    r.charge(in);
    REQUIRE(poll_events(*t, ev) == 1);
    CHECK(ev[0].sa_id == 3);
    r.charge(in);
    CHECK(poll_events(*t, ev) == 0);  // sent once only
}

TEST_CASE("a retired slot is reclaimed only after every reader's quiescent state, then its keys are zero") {
    auto t = Tables::create("tt_wipe", small_limits());
    Reader r0(*t, 0), r1(*t, 1);
    REQUIRE(install(*t, make_sa(20, Direction::in, 0xc00)).ok());
    REQUIRE(install(*t, make_sa(21, Direction::out, 0xc01)).ok());
    InRef in;
    OutRef out;
    REQUIRE(r0.inbound(0xc00, in));
    REQUIRE(r1.outbound(21, out));
    const InSlot& islot = t->in[in.slot];
    const OutSlot& oslot = t->out[out.slot];
    REQUIRE_FALSE(all_zero(&islot.sa.session, sizeof islot.sa.session));

    REQUIRE(delete_sa(*t, 20).ok());
    REQUIRE(delete_sa(*t, 21).ok());
    CHECK(usage(*t).pending == 2);
    // Readers still hold references: nothing may be wiped yet.
    CHECK(reclaim(*t, false) == 0);
    CHECK(in.sa->spi == 0xc00);
    CHECK(out.sa->spi == 0xc01);
    CHECK_FALSE(all_zero(&islot.sa.session, sizeof islot.sa.session));
    r0.quiescent();
    CHECK(reclaim(*t, false) == 0);  // r1 still inside
    r1.quiescent();
    CHECK(reclaim(*t, false) == 2);
    CHECK(all_zero(&islot.sa, sizeof islot.sa));
    CHECK(all_zero(&oslot.sa, sizeof oslot.sa));
    CHECK(all_zero(&islot.sa.session, sizeof islot.sa.session));
    CHECK(islot.phase.load() == kSlotFree);

    // An offline reader does not hold the writer up.
    REQUIRE(install(*t, make_sa(22, Direction::in, 0xc02)).ok());
    REQUIRE(delete_sa(*t, 22).ok());
    r0.offline();
    r1.quiescent();
    CHECK(reclaim(*t, false) == 1);
    r0.online();
}

TEST_CASE("a second handle attached by name sees the same SAs and can write them") {
    auto t = Tables::create("tt_att", small_limits());
    auto a = Tables::attach("tt_att");
    REQUIRE(install(*a, make_sa(40, Direction::in, 0xd00)).ok());
    Reader r(*t, 0);
    InRef in;
    REQUIRE(r.inbound(0xd00, in));
    CHECK(in.id == 40);
    CHECK_THROWS(Tables::attach("tt_none"));
    CHECK_THROWS(Tables::create("tt_att", small_limits()));
    a.reset();
    CHECK(r.inbound(0xd00, in));
}

TEST_CASE("bytes per SA") {
    INFO("InSlot " << sizeof(InSlot) << " InState " << sizeof(InState) << " OutSlot " << sizeof(OutSlot)
                   << " OutState " << sizeof(OutState));
    WARN("bytes per SA: inbound " << bytes_per_sa(Direction::in) << ", outbound " << bytes_per_sa(Direction::out)
                                  << " (+ rte_hash entry, + " << sizeof(IdEntry) << " per id)");
    CHECK(sizeof(Event) == 16);
}

namespace {
/// Reference SPD: linear first match by (priority, install order), written
/// independently of the rte_acl compilation.
SpdMatch reference_match(const std::vector<Policy>& ps, const SpdKey& k) {
    const Policy* best = nullptr;
    for (const Policy& p : ps) {  // ps is in install order
        if (p.family != k.family || (p.proto != 0 && p.proto != k.proto)) continue;
        if (k.src_port < p.src_port_lo || k.src_port > p.src_port_hi) continue;
        if (k.dst_port < p.dst_port_lo || k.dst_port > p.dst_port_hi) continue;
        auto in_prefix = [&](const uint8_t* net, uint8_t len, const uint8_t* a) {
            for (uint32_t bit = 0; bit < len; ++bit)
                if (((net[bit / 8] ^ a[bit / 8]) >> (7 - bit % 8)) & 1) return false;
            return true;
        };
        if (!in_prefix(p.src, p.src_len, k.src) || !in_prefix(p.dst, p.dst_len, k.dst)) continue;
        if (best == nullptr || p.priority < best->priority) best = &p;
    }
    if (best == nullptr) return {};
    return {best->action == PolicyAction::protect  ? SpdMatch::protect
            : best->action == PolicyAction::bypass ? SpdMatch::bypass
                                                   : SpdMatch::discard,
            best->sa_id};
}
}  // namespace

TEST_CASE("SPD burst classification (rte_acl) equals a linear first-match reference on random policies") {
    Limits l = small_limits();
    l.max_policies = 512;
    auto t = Tables::create("tt_acl", l);
    Reader r(*t, 0);
    std::mt19937 rng(7);
    std::vector<Policy> ps;
    // Addresses drawn from a small pool of prefixes so that rules overlap a lot.
    const uint8_t nets4[4][4] = {{10, 0, 0, 0}, {10, 1, 0, 0}, {192, 168, 1, 0}, {10, 1, 2, 0}};
    const uint8_t nets6[3][16] = {{0xfd, 0, 0, 1}, {0xfd, 0, 0, 2}, {0x20, 0x01, 0x0d, 0xb8}};
    for (uint32_t i = 0; i < 300; ++i) {
        Policy p;
        p.family = rng() % 4 == 0 ? 6 : 4;
        p.priority = rng() % 50;  // many ties: install order must break them
        const uint8_t max_len = p.family == 4 ? 32 : 128;
        for (uint8_t* a : {p.src, p.dst}) {
            if (p.family == 4)
                std::memcpy(a, nets4[rng() % 4], 4);
            else
                std::memcpy(a, nets6[rng() % 3], 16);
            a[p.family == 4 ? 3 : 15] = static_cast<uint8_t>(rng() % 4);
        }
        p.src_len = static_cast<uint8_t>(rng() % (max_len + 1));
        p.dst_len = static_cast<uint8_t>(std::min<uint32_t>(max_len, 8 * (rng() % (max_len / 8 + 1))));
        p.proto = static_cast<uint8_t>(std::array<int, 3>{0, 6, 17}[rng() % 3]);
        if (rng() % 2) {
            p.dst_port_lo = static_cast<uint16_t>(rng() % 100);
            p.dst_port_hi = static_cast<uint16_t>(p.dst_port_lo + rng() % 50);
        }
        if (rng() % 4 == 0) p.src_port_lo = p.src_port_hi = static_cast<uint16_t>(rng() % 100);
        p.action = static_cast<PolicyAction>(rng() % 3);
        p.sa_id = rng() % 200;
        REQUIRE(install_policy(*t, p, nullptr).ok());
        // The records' host bits are kept as given; compare against what was installed.
        ps.push_back(p);
    }
    REQUIRE(refresh(*t).spd);
    constexpr uint32_t kKeys = 5000;
    std::vector<std::array<uint8_t, 16>> src(kKeys), dst(kKeys);
    std::vector<SpdKey> keys(kKeys);
    for (uint32_t i = 0; i < kKeys; ++i) {
        SpdKey& k = keys[i];
        k.family = rng() % 4 == 0 ? 6 : 4;
        for (auto* a : {&src[i], &dst[i]}) {
            *a = {};
            if (k.family == 4)
                std::memcpy(a->data(), nets4[rng() % 4], 4);
            else
                std::memcpy(a->data(), nets6[rng() % 3], 16);
            (*a)[k.family == 4 ? 3 : 15] = static_cast<uint8_t>(rng() % 4);
            if (rng() % 8 == 0) (*a)[1] ^= 0x40;  // sometimes outside every prefix
        }
        k.src = src[i].data();
        k.dst = dst[i].data();
        k.proto = static_cast<uint8_t>(std::array<int, 3>{1, 6, 17}[rng() % 3]);
        k.src_port = static_cast<uint16_t>(rng() % 120);
        k.dst_port = static_cast<uint16_t>(rng() % 160);
    }
    std::vector<SpdMatch> got(kKeys);
    r.spd_burst(keys.data(), got.data(), kKeys);  // bursts of 64, mixed families
    uint32_t mismatches = 0, matched = 0;
    for (uint32_t i = 0; i < kKeys; ++i) {
        const SpdMatch want = reference_match(ps, keys[i]);
        matched += want.kind != SpdMatch::no_match;
        if (want.kind != got[i].kind || (want.kind == SpdMatch::protect && want.sa_id != got[i].sa_id)) ++mismatches;
    }
    CHECK(mismatches == 0);
    CHECK(matched > kKeys / 4);  // the test exercises matches, not only misses
}

TEST_CASE("routes: longest prefix match for IPv4 and IPv6, published by refresh, deleted routes gone") {
    auto t = Tables::create("tt_rt", small_limits());
    Reader r(*t, 0);
    auto v4 = [](uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return std::array<uint8_t, 4>{a, b, c, d}; };
    auto route4 = [&](std::array<uint8_t, 4> p, uint8_t len, uint16_t port, bool via = false) {
        Route rt;
        rt.family = 4;
        rt.len = len;
        rt.port = port;
        std::memcpy(rt.prefix, p.data(), 4);
        if (via) {
            rt.via = 1;
            rt.gateway[0] = 192, rt.gateway[1] = 0, rt.gateway[2] = 2, rt.gateway[3] = port;
        }
        return rt;
    };
    const auto a = v4(10, 1, 2, 3);
    CHECK(r.route(4, a.data()) == nullptr);  // nothing published
    REQUIRE(add_route(*t, route4(v4(0, 0, 0, 0), 0, 1, true)).ok());  // default via 192.0.2.1
    REQUIRE(add_route(*t, route4(v4(10, 0, 0, 0), 8, 2)).ok());
    REQUIRE(add_route(*t, route4(v4(10, 1, 2, 99), 24, 3)).ok());     // host bits cleared
    REQUIRE(add_route(*t, route4(v4(10, 1, 2, 3), 32, 4)).ok());
    CHECK(add_route(*t, route4(v4(10, 1, 2, 0), 24, 9)).status == WriteStatus::route_exists);
    CHECK(add_route(*t, route4(v4(10, 1, 2, 0), 33, 9)).status == WriteStatus::bad_params);
    Route v6;
    v6.family = 6;
    v6.len = 48;
    v6.port = 5;
    v6.prefix[0] = 0x20, v6.prefix[1] = 0x01, v6.prefix[2] = 0x0d, v6.prefix[3] = 0xb8;
    REQUIRE(add_route(*t, v6).ok());
    CHECK(usage(*t).routes == 5);
    CHECK(r.route(4, a.data()) == nullptr);  // still not published
    REQUIRE(refresh(*t).routes);

    auto port_of = [&](std::array<uint8_t, 4> d) {
        const RouteHop* h = r.route(4, d.data());
        return h ? static_cast<int>(h->port) : -1;
    };
    CHECK(port_of(v4(10, 1, 2, 3)) == 4);
    CHECK(port_of(v4(10, 1, 2, 4)) == 3);
    CHECK(port_of(v4(10, 9, 9, 9)) == 2);
    CHECK(port_of(v4(8, 8, 8, 8)) == 1);
    const RouteHop* def = r.route(4, v4(8, 8, 8, 8).data());
    REQUIRE(def != nullptr);
    CHECK(def->via);
    CHECK(def->gateway[3] == 1);
    CHECK_FALSE(r.route(4, v4(10, 9, 9, 9).data())->via);
    uint8_t d6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 7};
    REQUIRE(r.route(6, d6) != nullptr);
    CHECK(r.route(6, d6)->port == 5);
    d6[5] = 1;  // outside the /48
    CHECK(r.route(6, d6) == nullptr);

    const uint32_t dsts[3] = {0x0a010203, 0x0a010204, 0x08080808};  // host order
    const RouteHop* hops[3];
    r.route4_burst(dsts, hops, 3);
    REQUIRE((hops[0] && hops[1] && hops[2]));
    CHECK(hops[0]->port == 4);
    CHECK(hops[1]->port == 3);
    CHECK(hops[2]->port == 1);

    REQUIRE(del_route(*t, 4, v4(10, 1, 2, 3).data(), 32).ok());
    CHECK(del_route(*t, 4, v4(10, 1, 2, 3).data(), 32).status == WriteStatus::no_such_route);
    REQUIRE(del_route(*t, 4, v4(0, 0, 0, 0).data(), 0).ok());
    REQUIRE(refresh(*t).routes);
    CHECK(port_of(v4(10, 1, 2, 3)) == 3);
    CHECK(port_of(v4(8, 8, 8, 8)) == -1);
    r.quiescent();
    refresh(*t);
    CHECK(retired_count(*t) == 0);
}

TEST_CASE("routes: the DIR24_8/TRIE build gives the same answers") {
    Limits l = small_limits();
    l.fast_routes = true;
    auto t = Tables::create("tt_rtf", l);
    Reader r(*t, 0);
    Route a;
    a.len = 16;
    a.port = 1;
    a.prefix[0] = 172, a.prefix[1] = 16;
    REQUIRE(add_route(*t, a).ok());
    Route b = a;
    b.len = 28;
    b.port = 2;
    b.prefix[2] = 5, b.prefix[3] = 16;
    REQUIRE(add_route(*t, b).ok());
    Route c;
    c.family = 6;
    c.len = 64;
    c.port = 3;
    c.prefix[0] = 0xfd;
    REQUIRE(add_route(*t, c).ok());
    REQUIRE(refresh(*t).routes);
    const uint8_t x[4] = {172, 16, 5, 20}, y[4] = {172, 16, 5, 40}, z[4] = {172, 17, 0, 1};
    uint8_t w[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 1};
    REQUIRE(r.route(4, x));
    CHECK(r.route(4, x)->port == 2);
    CHECK(r.route(4, y)->port == 1);
    CHECK(r.route(4, z) == nullptr);
    REQUIRE(r.route(6, w));
    CHECK(r.route(6, w)->port == 3);
}

TEST_CASE("burst SPI lookup finds exactly the installed SPIs, and the owner rule spreads SAs over workers") {
    Limits l = small_limits();
    l.workers = 3;
    auto t = Tables::create("tt_burst", l);
    Reader r0(*t, 0), r2(*t, 2);
    for (uint32_t i = 0; i < 40; ++i) REQUIRE(install(*t, make_sa(i, Direction::in, 0x5000 + 2 * i)).ok());
    Sa pinned = make_sa(100, Direction::in, 0x7000);
    pinned.p.owner = 2;
    REQUIRE(install(*t, pinned).ok());
    uint32_t spis[64];
    for (uint32_t i = 0; i < 64; ++i) spis[i] = 0x5000 + i;  // even ones exist (i < 80)
    spis[63] = 0x7000;
    InRef refs[64];
    const uint64_t hits = r0.inbound_burst(spis, 64, refs);
    for (uint32_t i = 0; i < 64; ++i) {
        const bool want = i == 63 || i % 2 == 0;
        CHECK(((hits >> i) & 1) == (want ? 1u : 0u));
        if (!want || i == 63) continue;
        CHECK(refs[i].sa->spi == spis[i]);
        CHECK(refs[i].id == i / 2);
        CHECK(refs[i].owner == default_owner(i / 2, 3));
        CHECK(r0.mine(refs[i]) == (i / 2 % 3 == 0));
    }
    CHECK(refs[63].owner == 2);
    CHECK_FALSE(r0.mine(refs[63]));
    CHECK(r2.mine(refs[63]));
    CHECK(r0.inbound_burst(spis, 0, refs) == 0);
}

/// ThreadSanitizer: rte_hash (a prebuilt, uninstrumented library) publishes keys in
/// lock-free mode with release/acquire on the key index inside the library, which
/// TSan cannot see; only its intercepted memcpy (writer) / memcmp (reader) of the key
/// store are visible and look racy. Our own slot publication is checked independently
/// (InSlot::phase acquire), so only accesses made from inside librte_hash are ignored.
extern "C" const char* __tsan_default_suppressions() { return "called_from_lib:librte_hash.so\n"; }

int main(int argc, char** argv) {
    const char* eal[] = {"test_tables", "--no-pci", "--no-huge", "-m", "512", "--file-prefix", "tbl", "--log-level=3"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 2;
    }
    const int rc = Catch::Session().run(argc, argv);
    rte_eal_cleanup();
    return rc;
}

TEST_CASE("firewall tags: append-only registry of group and connection names; an SA carries its bits") {
    auto t = Tables::create("tt_tags", small_limits());
    CHECK(tag_bit(*t, 0, "sales") == 0);
    CHECK(tag_bit(*t, 0, "engineering") == 1);
    CHECK(tag_bit(*t, 0, "sales") == 0);      // a name keeps its bit
    CHECK(tag_bit(*t, 1, "rw") == 0);         // connections: a registry of their own
    CHECK(tag_bit(*t, 0, "") == -1);
    CHECK(tag_bit(*t, 0, std::string(kTagNameLen, 'x')) == -1);
    CHECK(tag_bit(*t, 2, "x") == -1);
    std::vector<std::string> unplaced;
    CHECK(tag_mask(*t, 0, {"engineering", "finance"}, &unplaced) == 0b110u);
    CHECK(unplaced.empty());
    CHECK(tag_names(*t, 0) == std::vector<std::string>{"sales", "engineering", "finance"});
    CHECK(tag_names(*t, 1) == std::vector<std::string>{"rw"});
    for (uint32_t i = 3; i < kMaxTags; ++i) CHECK(tag_bit(*t, 0, "g" + std::to_string(i)) == static_cast<int>(i));
    CHECK(tag_mask(*t, 0, {"sales", "one-too-many"}, &unplaced) == 1u);
    CHECK(unplaced == std::vector<std::string>{"one-too-many"});

    Sa s = make_sa(9, Direction::in, 0x4242);
    s.p.fw_groups = 0b101;
    s.p.fw_conn = 1;
    REQUIRE(install(*t, s).ok());
    Reader r(*t, 0);
    InRef ref;
    REQUIRE(r.inbound(0x4242, ref));
    CHECK(r.fw_tags(ref.slot) == (uint64_t{1} << 32 | 0b101));

    // The tunnel's outbound SA carries the same tags (to_tunnel rules), kept by a rekey.
    Sa o = make_sa(10, Direction::out, 0x4343);
    o.p.fw_groups = 0b101;
    o.p.fw_conn = 1;
    REQUIRE(install(*t, o).ok());
    OutRef oref;
    REQUIRE(r.outbound(10, oref));
    CHECK(r.fw_tags_out(oref.slot) == (uint64_t{1} << 32 | 0b101));
    Sa o2 = make_sa(10, Direction::out, 0x4344);
    o2.p.fw_groups = 0b100;
    o2.p.fw_conn = 1;
    REQUIRE(replace(*t, o2).ok());
    r.quiescent();
    REQUIRE(r.outbound(10, oref));
    CHECK(r.fw_tags_out(oref.slot) == (uint64_t{1} << 32 | 0b100));
    Sa untagged = make_sa(11, Direction::out, 0x4345);
    REQUIRE(install(*t, untagged).ok());
    REQUIRE(r.outbound(11, oref));
    CHECK(r.fw_tags_out(oref.slot) == 0);
}

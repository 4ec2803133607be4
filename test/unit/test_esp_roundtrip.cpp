// Outbound -> inbound round trips for every suite, tunnel (all four inner/outer
// families) and transport (v4, v6), with and without UDP encapsulation and ESN, with
// both engines; intel-ipsec-mb output must equal OpenSSL output byte for byte.
#include <catch2/catch.hpp>

#include "crypto/engine_mb.hpp"
#include "crypto/engine_openssl.hpp"
#include "esp_test_util.hpp"

using namespace esptest;

namespace {

struct Shape {
    const char* name;
    esp::Mode mode;
    int inner;
    int outer;  // tunnel only
};

const Shape kShapes[] = {
    {"tunnel 4in4", esp::Mode::tunnel, 4, 4},   {"tunnel 6in4", esp::Mode::tunnel, 6, 4},
    {"tunnel 4in6", esp::Mode::tunnel, 4, 6},   {"tunnel 6in6", esp::Mode::tunnel, 6, 6},
    {"transport v4", esp::Mode::transport, 4, 4}, {"transport v6", esp::Mode::transport, 6, 6},
};

}  // namespace

TEST_CASE("round trip: every suite x mode x family x UDP x ESN, both engines, Mb == OpenSSL bytes") {
    crypto::MbEngine mb;
    crypto::OsslEngine ossl;
    size_t combos = 0;
    for (const auto& ns : all_suites()) {
        for (const Shape& sh : kShapes) {
            for (bool udp : {false, true}) {
                for (bool esn : {false, true}) {
                    INFO(ns.name << " " << sh.name << " udp=" << udp << " esn=" << esn);
                    esp::SaConfig c = sh.mode == esp::Mode::tunnel ? tunnel_cfg(ns.suite, sh.outer, udp, esn)
                                                                  : transport_cfg(ns.suite, udp, esn);
                    c.initial_seq = esn ? 0xfffffffdull : 0;  // ESN runs across the 2^32 wrap
                    // Two identical pairs: one per engine, same sequence numbers.
                    auto a = std::make_unique<SaPair>(c);
                    auto b = std::make_unique<SaPair>(c);
                    REQUIRE(a->ok);
                    REQUIRE(b->ok);
                    for (uint32_t len : {0u, 1u, 13u, 64u, 333u, 1400u}) {
                        INFO("payload " << len);
                        auto ip = ip_udp(sh.inner, len, 0x28, static_cast<uint8_t>(len));
                        Buf bm(ip), bo(ip);
                        REQUIRE(run_outbound(mb, a->out, a->out_st, bm) == DropReason::none);
                        REQUIRE(run_outbound(ossl, b->out, b->out_st, bo) == DropReason::none);
                        REQUIRE(bm.bytes() == bo.bytes());
                        REQUIRE(bm.bytes() != ip);
                        // Decrypt each with the other engine.
                        REQUIRE(run_inbound(ossl, a->in, a->in_st, bm) == DropReason::none);
                        REQUIRE(run_inbound(mb, b->in, b->in_st, bo) == DropReason::none);
                        REQUIRE(bm.bytes() == ip);
                        REQUIRE(bo.bytes() == ip);
                        REQUIRE(bm.consistent());
                        REQUIRE(bo.consistent());
                        ++combos;
                    }
                    CHECK(a->in_st.packets == 6);
                    if (esn) CHECK(a->in_st.window.top == 0xfffffffdull + 6);
                }
            }
        }
    }
    CHECK(combos == all_suites().size() * 6 * 2 * 2 * 6);
}

TEST_CASE("round trip: a burst of 32 through the engines' burst API, in and out of order") {
    crypto::MbEngine mb;
    for (const auto& ns : all_suites()) {
        INFO(ns.name);
        SaPair p(tunnel_cfg(ns.suite, 4, false, true));
        REQUIRE(p.ok);
        constexpr int N = 32;
        std::vector<std::vector<uint8_t>> plain;
        std::vector<std::unique_ptr<Buf>> bufs;
        std::vector<crypto::Op> ops(N);
        std::vector<esp::PacketScratch> sc(N);
        for (int i = 0; i < N; ++i) {
            plain.push_back(ip_udp(i % 2 ? 6 : 4, 40 + i * 11, 0, static_cast<uint8_t>(i)));
            bufs.push_back(std::make_unique<Buf>(plain.back()));
            REQUIRE(esp::outbound_prepare(p.out, p.out_st, bufs[i]->pkt, ops[i], sc[i]) == DropReason::none);
        }
        REQUIRE(mb.encrypt(ops) == N);
        for (int i = 0; i < N; ++i)
            REQUIRE(esp::outbound_finish(p.out, bufs[i]->pkt, ops[i].status, sc[i]) == DropReason::none);
        // inbound in reverse order, with packet 5 duplicated into the same burst
        std::vector<int> order;
        for (int i = N - 1; i >= 0; --i) order.push_back(i);
        auto dup = std::make_unique<Buf>(bufs[5]->bytes());
        std::vector<crypto::Op> iops(N + 1);
        std::vector<esp::PacketScratch> isc(N + 1);
        for (int j = 0; j < N; ++j) {
            Buf& b = *bufs[order[j]];
            esp::Classification cls;
            REQUIRE(esp::classify(b.pkt.data, b.pkt.len, cls) == DropReason::none);
            REQUIRE(esp::inbound_prepare(p.in, p.in_st, b.pkt, cls, iops[j], isc[j]) == DropReason::none);
        }
        esp::Classification cls;
        REQUIRE(esp::classify(dup->pkt.data, dup->pkt.len, cls) == DropReason::none);
        REQUIRE(esp::inbound_prepare(p.in, p.in_st, dup->pkt, cls, iops[N], isc[N]) == DropReason::none);
        REQUIRE(mb.decrypt(iops) == N + 1);
        for (int j = 0; j < N; ++j) {
            Buf& b = *bufs[order[j]];
            REQUIRE(esp::inbound_finish(p.in, p.in_st, b.pkt, iops[j].status, isc[j]) == DropReason::none);
            REQUIRE(b.bytes() == plain[order[j]]);
        }
        CHECK(esp::inbound_finish(p.in, p.in_st, dup->pkt, iops[N].status, isc[N]) ==
              DropReason::replay_duplicate);
    }
}

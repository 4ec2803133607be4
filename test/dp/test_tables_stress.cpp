// dataplane/tables under concurrent change: one writer thread installs, replaces and
// deletes SAs as fast as it can while two registered RCU readers look them up and
// check each SA they hold for consistency (SPI in the slot equals the SPI looked up;
// keys and salt match the SPI's derivation; still intact just before the quiescent
// report). A torn read, a slot wiped or reused while held, or a key mismatch fails.
// Bounded to ~3 s. Run it under -Dsanitize=tsan as well.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/tables/publish.hpp"
#include "dataplane/tables/reader.hpp"
#include "dataplane/tables/writer.hpp"

using namespace espgw;
using namespace espgw::tables;

namespace {

constexpr uint32_t kIds = 2048;  // SA ids 0..2047; each id is in or out by parity

/// AES-GCM-128 key || salt derived from the SPI.
std::array<uint8_t, 20> keymat_for(uint32_t spi) {
    std::array<uint8_t, 20> k{};
    uint32_t x = spi * 2654435761u + 0x9e3779b9u;
    for (auto& b : k) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b = static_cast<uint8_t>(x | 1);  // never zero: a wiped byte is detectable
    }
    return k;
}

/// SPIs carry their id in the low bits so a reader knows which id it must find.
uint32_t spi_of(uint32_t id, uint32_t version) { return (version << 12 | id) + 0x100; }
uint32_t id_of_spi(uint32_t spi) { return (spi - 0x100) & 0xfff; }

struct Failures {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> first_code{0};
    void fail(uint64_t code) {
        if (count.fetch_add(1, std::memory_order_relaxed) == 0) first_code.store(code, std::memory_order_relaxed);
    }
};

/// The consistency check on an SA the reader holds under RCU.
template <typename SaT>
bool consistent(const SaT& sa, uint32_t spi) {
    if (sa.spi != spi) return false;
    const auto km = keymat_for(spi);
    return std::memcmp(sa.session.enc_key, km.data(), 16) == 0 && std::memcmp(sa.session.salt, km.data() + 16, 4) == 0;
}

}  // namespace

TEST_CASE("readers never see a torn or reclaimed SA while a writer churns the tables") {
    Limits l;
    l.max_sas = 4096;
    l.max_ids = kIds;
    l.max_policies = 16;
    l.workers = 2;
    l.event_ring_size = 1024;
    auto t = Tables::create("tts", l);

    std::atomic<bool> stop{false};         // readers
    std::atomic<bool> writer_stop{false};  // writer, stopped first (see below)
    std::atomic<uint32_t> version[kIds];  // current SPI version per id (hint for readers)
    for (auto& v : version) v.store(0, std::memory_order_relaxed);
    Failures f;
    std::atomic<uint64_t> lookups{0}, hits{0}, writes{0}, republished{0};
    // SPD/route churn: the writer keeps one catch-all protect policy whose sa_id is a
    // rising counter, and one default route whose port is the same counter (mod 2^16),
    // and republishes both (refresh) every few dozen SA operations. Readers check that
    // what they see never goes backwards within the run and never exceeds the newest.
    std::atomic<uint32_t> newest_marker{0};

    auto reader = [&](uint32_t wid) {
        Reader r(*t, wid);
        std::mt19937 rng(wid + 1);
        uint64_t n = 0, h = 0;
        struct Held {
            const esp::InboundSa* in;
            const esp::OutboundSa* out;
            uint32_t spi;
        };
        std::vector<Held> held;
        held.reserve(64);
        uint32_t seen_marker = 0, seen_port = 0;
        const uint8_t a4[4] = {10, 0, 0, 1}, b4[4] = {10, 0, 0, 2};
        SpdKey key;
        key.src = a4;
        key.dst = b4;
        key.proto = 17;
        while (!stop.load(std::memory_order_relaxed)) {
            held.clear();
            const SpdMatch m = r.spd(key);
            const RouteHop* hop = r.route(4, b4);
            const uint16_t port = hop ? hop->port : 0;
            const bool via = hop ? hop->via : false;
            // Loaded after the lookups: whatever they found was published before, so
            // its marker is <= this (the writer stores the marker, then publishes).
            const uint32_t newest = newest_marker.load(std::memory_order_acquire);
            if (m.kind != SpdMatch::no_match) {
                if (m.kind != SpdMatch::protect || m.sa_id < seen_marker || m.sa_id > newest) f.fail(6);
                seen_marker = m.sa_id;
            }
            if (hop != nullptr && (port < (seen_port & 0xffff) || port > newest || via)) f.fail(7);
            if (hop != nullptr) seen_port = port;
            for (int i = 0; i < 32; ++i) {
                const uint32_t id = rng() % kIds;
                ++n;
                if (id % 2 == 0) {
                    // Inbound: look up a recent SPI of this id (it may be gone: fine).
                    const uint32_t spi = spi_of(id, version[id].load(std::memory_order_relaxed));
                    InRef in;
                    if (!r.inbound(spi, in)) continue;
                    ++h;
                    if (in.id != id || id_of_spi(in.sa->spi) != id) f.fail(1);
                    if (!consistent(*in.sa, spi)) f.fail(2);
                    held.push_back({in.sa, nullptr, spi});
                } else {
                    OutRef out;
                    if (!r.outbound(id, out)) continue;
                    ++h;
                    const uint32_t spi = out.sa->spi;
                    if (out.id != id || id_of_spi(spi) != id) f.fail(3);
                    if (!consistent(*out.sa, spi)) f.fail(4);
                    held.push_back({nullptr, out.sa, spi});
                }
            }
            // Everything held this iteration must still be intact before quiescent.
            for (const Held& x : held)
                if (x.in ? !consistent(*x.in, x.spi) : !consistent(*x.out, x.spi)) f.fail(5);
            r.quiescent();
        }
        lookups.fetch_add(n);
        hits.fetch_add(h);
    };

    auto writer = [&] {
        std::mt19937 rng(42);
        uint64_t w = 0;
        std::vector<uint8_t> live(kIds, 0);
        uint32_t marker = 0, policy_id = UINT32_MAX;
        while (!writer_stop.load(std::memory_order_relaxed)) {
            // The policy names SA id `marker`: it stays below kIds (a fast machine makes
            // more than kIds * 256 writer calls within the test's time).
            if (w % 256 == 0 && marker + 1 < kIds) {
                // The primary's control-thread role: change SPD and routes, republish.
                ++marker;
                Policy p;
                p.priority = 10;
                p.action = PolicyAction::protect;
                p.sa_id = marker;
                if (policy_id != UINT32_MAX && !delete_policy(*t, policy_id).ok()) f.fail(200);
                if (!install_policy(*t, p, &policy_id).ok()) f.fail(201);
                Route rt;
                rt.len = 8;
                rt.prefix[0] = 10;
                rt.port = static_cast<uint16_t>(marker);
                del_route(*t, 4, rt.prefix, 8);
                if (!add_route(*t, rt).ok()) f.fail(202);
                newest_marker.store(marker, std::memory_order_release);
                if (refresh(*t).spd) republished.fetch_add(1, std::memory_order_relaxed);
            }
            const uint32_t id = rng() % kIds;
            const Direction dir = id % 2 == 0 ? Direction::in : Direction::out;
            const uint32_t op = rng() % 3;
            WriteResult res;
            if (!live[id] || op == 0) {
                if (live[id]) {
                    res = delete_sa(*t, id);
                    live[id] = 0;
                } else {
                    const uint32_t v = (version[id].load(std::memory_order_relaxed) + 1) & 0xfffff;
                    const auto km = keymat_for(spi_of(id, v));
                    SaParams p;
                    p.id = id;
                    p.dir = dir;
                    p.cfg.spi = spi_of(id, v);
                    p.cfg.suite = {crypto::Cipher::aes_gcm_128, crypto::Integ::none};
                    p.cfg.mode = esp::Mode::transport;
                    p.enc_keymat = km;
                    res = install_sa(*t, p);
                    version[id].store(v, std::memory_order_relaxed);
                    live[id] = 1;
                }
            } else {
                // Replace: new SPI (rekey) or same SPI (parameter update).
                const uint32_t cur = version[id].load(std::memory_order_relaxed);
                const uint32_t v = op == 1 ? (cur + 1) & 0xfffff : cur;
                const auto km = keymat_for(spi_of(id, v));
                SaParams p;
                p.id = id;
                p.dir = dir;
                p.cfg.spi = spi_of(id, v);
                p.cfg.suite = {crypto::Cipher::aes_gcm_128, crypto::Integ::none};
                p.cfg.mode = esp::Mode::transport;
                p.enc_keymat = km;
                res = replace_sa(*t, p);
                version[id].store(v, std::memory_order_relaxed);
            }
            if (!res.ok()) f.fail(100 + static_cast<uint64_t>(res.status));
            ++w;
        }
        writes.store(w);
    };

    std::thread r0(reader, 0), r1(reader, 1);
    std::thread wr(writer);
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    // Writer first: a reader's exit unregisters it from the RCU inside librte_rcu
    // (uninstrumented), so ThreadSanitizer could not see the happens-before from
    // its last lookup to a reclaim that followed the exit.
    writer_stop.store(true);
    wr.join();
    stop.store(true);
    r0.join();
    r1.join();

    WARN("writer ops " << writes.load() << " (" << writes.load() / 3 << "/s), reader lookups " << lookups.load()
                       << ", hits " << hits.load() << ", live in/out " << usage(*t).in << "/" << usage(*t).out
                       << ", SPD/route republications " << republished.load());
    INFO("first failure code " << f.first_code.load());
    CHECK(f.count.load() == 0);
    CHECK(writes.load() > 3000);  // thousands of changes per second
    CHECK(hits.load() > 1000);
    CHECK(republished.load() > 10);
    // Everything retired is reclaimable now that no reader is registered.
    reclaim(*t, false);
    CHECK(usage(*t).pending == 0);
    // Every free slot has been wiped.
    uint32_t dirty = 0;
    for (uint32_t i = 0; i < l.max_sas; ++i) {
        if (t->in[i].phase.load() == kSlotFree && t->in[i].sa.session.salt[0] != 0) ++dirty;
        if (t->out[i].phase.load() == kSlotFree && t->out[i].sa.session.salt[0] != 0) ++dirty;
    }
    CHECK(dirty == 0);
}

/// ThreadSanitizer: rte_hash (a prebuilt, uninstrumented library) publishes keys in
/// lock-free mode with release/acquire on the key index inside the library, which
/// TSan cannot see; only its intercepted memcpy (writer) / memcmp (reader) of the key
/// store are visible and look racy. Our own slot publication is checked independently
/// (InSlot::phase acquire), so only accesses made from inside librte_hash are ignored.
extern "C" const char* __tsan_default_suppressions() { return "called_from_lib:librte_hash.so\n"; }

int main(int argc, char** argv) {
    const char* eal[] = {"test_tables_stress", "--no-pci", "--no-huge", "-m", "512", "--file-prefix", "tbl_stress", "--log-level=3"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::fprintf(stderr, "rte_eal_init failed\n");
        return 2;
    }
    const int rc = Catch::Session().run(argc, argv);
    rte_eal_cleanup();
    return rc;
}

// SA install rate through the shared-table writer API (issue 8: "SA install rate ...
// and the throughput dip while installing"), in one process on two threads:
//   - a reader thread that does what a worker's inbound path does with the tables:
//     bulk SPI lookups of 32 random live SPIs, touch the SA, quiescent report, again;
//   - the writer (main thread) installing N inbound SAs (AES-GCM-128, distinct SPIs),
//     then replacing them all (rekey, make-before-break) and deleting them all.
// Reported: SA operations per second for each phase, and the reader's lookups per
// second during each phase against the same reader alone (the dip). The reader stands
// for the table part of the worker pipeline only (no crypto, no NIC): the dip of a
// full pipeline is smaller, since the table accesses are a fraction of its time.
//
// The phases measured against the reader run paced at --rate operations per second
// (default 100,000, the target), the first install flat out.
//
// Cores: the writer stands for espgw-ike / the main lcore, the reader for a worker —
// as deployed, each on its own core (the reader on the last CPU this process may use,
// the writer on the first). With one CPU they share it and the dip includes that.
//
//   sa_install [--sas N] [--rate OPS_PER_S] [--seconds S] [--json]
#include <rte_eal.h>
#include <rte_lcore.h>

#include <pthread.h>
#include <sched.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/tables/reader.hpp"
#include "dataplane/tables/writer.hpp"

using namespace espgw;
using namespace espgw::tables;
using Clock = std::chrono::steady_clock;

namespace {

std::array<uint8_t, 20> keymat_for(uint32_t spi) {
    std::array<uint8_t, 20> k{};
    uint32_t x = spi * 2654435761u + 0x9e3779b9u;
    for (auto& b : k) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b = static_cast<uint8_t>(x);
    }
    return k;
}

SaParams params(uint32_t id, uint32_t spi, const std::array<uint8_t, 20>& km) {
    SaParams p;
    p.id = id;
    p.dir = Direction::in;
    p.cfg.spi = spi;
    p.cfg.suite = {crypto::Cipher::aes_gcm_128, crypto::Integ::none};
    p.cfg.mode = esp::Mode::tunnel;
    p.cfg.tunnel_src = net::IpAddr::v4(0xC6336402);
    p.cfg.tunnel_dst = net::IpAddr::v4(0xC0000201);
    p.enc_keymat = km;
    return p;
}

struct ReaderLoad {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> lookups{0};
    std::atomic<uint32_t> live_hi{0};  // SPIs 0x1000 .. 0x1000 + live_hi - 1 are (mostly) installed
};

void reader_loop(Tables& t, ReaderLoad& rd) {
    tables::Reader r(t, 0);
    std::mt19937 rng(7);
    uint32_t spis[32];
    InRef refs[32];
    uint64_t n = 0, sink = 0;
    while (!rd.stop.load(std::memory_order_relaxed)) {
        const uint32_t hi = rd.live_hi.load(std::memory_order_relaxed);
        for (uint32_t i = 0; i < 32; ++i) spis[i] = 0x1000 + (hi ? rng() % hi : 0);
        uint64_t hits = r.inbound_burst(spis, 32, refs);
        for (; hits; hits &= hits - 1) sink += refs[__builtin_ctzll(hits)].sa->spi;  // touch the SA
        r.quiescent();
        n += 32;
        if ((n & 0xfff) == 0) rd.lookups.store(n, std::memory_order_relaxed);
    }
    rd.lookups.store(n + (sink & 0), std::memory_order_relaxed);
    r.offline();
}

double reader_rate(ReaderLoad& rd, double seconds) {
    const uint64_t a = rd.lookups.load();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    return double(rd.lookups.load() - a) / dt;
}

}  // namespace

int main(int argc, char** argv) {
    uint32_t sas = 100000;
    double seconds = 2.0;
    double rate = 100000;
    bool json = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--sas" && i + 1 < argc) sas = static_cast<uint32_t>(std::stoul(argv[++i]));
        else if (a == "--seconds" && i + 1 < argc) seconds = std::stod(argv[++i]);
        else if (a == "--rate" && i + 1 < argc) rate = std::stod(argv[++i]);
        else if (a == "--json") json = true;
        else {
            fmt::print(stderr, "usage: sa_install [--sas N] [--rate OPS_PER_S] [--seconds S] [--json]\n");
            return 2;
        }
    }
    // The CPUs this process may use, before EAL pins the main thread to the first.
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    sched_getaffinity(0, sizeof(allowed), &allowed);
    int first_cpu = -1, last_cpu = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) {
            if (first_cpu < 0) first_cpu = c;
            last_cpu = c;
        }
    const std::string mem = std::to_string(512 + sas / 64);
    const std::string lcores = "--lcores=0@" + std::to_string(first_cpu < 0 ? 0 : first_cpu);
    const char* eal[] = {"sa_install", "--no-pci", "--no-huge", "-m", mem.c_str(), "--file-prefix", "sa_install_bench",
                         "--log-level=3", lcores.c_str()};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        fmt::print(stderr, "sa_install: rte_eal_init failed\n");
        return 1;
    }
    Limits l;
    l.max_sas = std::max<uint32_t>(sas * 3 + 64, 1024);  // live set + a second batch + replace slots
    l.max_ids = sas * 2 + 16;
    l.max_policies = 64;
    l.workers = 1;
    auto t = Tables::create("sa_install", l);
    std::vector<std::array<uint8_t, 20>> keys(sas * 2);
    for (uint32_t i = 0; i < sas * 2; ++i) keys[i] = keymat_for(0x1000 + i);

    ReaderLoad rd;
    // Dip phases run at the paced `rate` (ops/s, in batches of 1000): the question is
    // what a given install load costs the workers, not what a flat-out writer competing
    // for the same cores costs. They run in chunks of kChunkOps, each followed by an
    // idle window as long as itself; the dip is the median over chunks of the reader's
    // rate during the chunk against the idle windows on either side (shared VMs drift
    // by more than the effect over the seconds a phase takes).
    constexpr uint32_t kChunkOps = 10000;
    auto reader_window = [&](auto&& body) {
        const uint64_t l0 = rd.lookups.load();
        const auto t0 = Clock::now();
        body();
        const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
        return std::pair{double(rd.lookups.load() - l0) / dt, dt};
    };
    auto timed = [&](auto&& op, uint32_t from, uint32_t to, double* dip_pct) {
        uint32_t failed = 0;
        auto run = [&](uint32_t a, uint32_t b, bool paced) {
            const auto t0 = Clock::now();
            for (uint32_t i = a; i < b; ++i) {
                if (!op(i)) ++failed;
                if (paced && (i - a) % 1000 == 999)
                    std::this_thread::sleep_until(t0 + std::chrono::duration<double>(double(i - a + 1) / rate));
            }
        };
        double busy = 0;
        if (!dip_pct || rate <= 0) {
            busy = reader_window([&] { run(from, to, false); }).second;
        } else {
            std::vector<double> ratios;
            const double chunk_s = kChunkOps / rate;
            double idle_before = reader_window([&] { std::this_thread::sleep_for(std::chrono::duration<double>(chunk_s)); }).first;
            for (uint32_t a = from; a < to; a += kChunkOps) {
                const auto [during, dt] = reader_window([&] { run(a, std::min(to, a + kChunkOps), true); });
                busy += dt;
                const double idle_after = reader_window([&] { std::this_thread::sleep_for(std::chrono::duration<double>(chunk_s)); }).first;
                if (idle_before + idle_after > 0) ratios.push_back(2 * during / (idle_before + idle_after));
                idle_before = idle_after;
            }
            std::sort(ratios.begin(), ratios.end());
            *dip_pct = ratios.empty() ? 0 : 100.0 * (1.0 - ratios[ratios.size() / 2]);
        }
        if (failed) fmt::print(stderr, "sa_install: {} operations refused\n", failed);
        return double(to - from) / busy;
    };
    // 1. The live set, no reader yet: the raw install rate.
    const double install = timed([&](uint32_t i) { return install_sa(*t, params(i, 0x1000 + i, keys[i])).ok(); }, 0,
                                 sas, nullptr);
    // 2. The reader over the live set, alone: what the dips are measured against.
    rd.live_hi.store(sas);
    std::thread th([&] { reader_loop(*t, rd); });
    const bool own_core = last_cpu > first_cpu;
    if (own_core) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(last_cpu, &one);
        pthread_setaffinity_np(th.native_handle(), sizeof(one), &one);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const double idle = reader_rate(rd, seconds);
    // 3. A second batch installed while the reader works on the first.
    double dip_install = 0, dip_replace = 0, dip_delete = 0;
    const double install2 = timed([&](uint32_t i) { return install_sa(*t, params(i, 0x1000 + i, keys[i])).ok(); },
                                  sas, sas * 2, &dip_install);
    // 4. Rekey (make-before-break replace) of the live set, then delete of the second batch.
    const double replace = timed([&](uint32_t i) { return replace_sa(*t, params(i, 0x1000 + i, keys[i])).ok(); }, 0,
                                 sas, &dip_replace);
    const double del = timed([&](uint32_t i) { return delete_sa(*t, i).ok(); }, sas, sas * 2, &dip_delete);
    rd.stop = true;
    th.join();
    const TableUsage u = usage(*t);

    if (json) {
        fmt::print("{{\"sas\":{},\"paced_rate\":{:.0f},\"install_alone_per_s\":{:.0f},\"install_per_s\":{:.0f},\"replace_per_s\":{:.0f},\"delete_per_s\":{:.0f},"
                   "\"reader_lookups_per_s_idle\":{:.0f},\"reader_dip_install_pct\":{:.1f},\"reader_dip_replace_pct\":{:.1f},"
                   "\"reader_dip_delete_pct\":{:.1f},\"bytes_per_inbound_sa\":{},\"writer_cpu\":{},\"reader_cpu\":{}}}\n",
                   sas, rate, install, install2, replace, del, idle, dip_install, dip_replace, dip_delete,
                   sizeof(InSlot) + sizeof(InState), first_cpu, own_core ? last_cpu : first_cpu);
    } else {
        fmt::print("SA writer, {} live inbound AES-GCM-128 SAs (+ {} more installed), one reader thread (bulk lookups of 32 + quiescent)\n", sas, sas);
        fmt::print("  writer on CPU {}, reader on CPU {}\n", first_cpu, own_core ? last_cpu : first_cpu);
        fmt::print("  reader alone          {:>12.0f} lookups/s\n", idle);
        fmt::print("  install, no reader    {:>12.0f} SAs/s (flat out)\n", install);
        fmt::print("  then paced at {:.0f} operations/s while the reader runs:\n", rate);
        fmt::print("  install               {:>12.0f} SAs/s   reader dip {:5.1f} %\n", install2, dip_install);
        fmt::print("  replace (rekey)       {:>12.0f} SAs/s   reader dip {:5.1f} %\n", replace, dip_replace);
        fmt::print("  delete                {:>12.0f} SAs/s   reader dip {:5.1f} %\n", del, dip_delete);
        fmt::print("  {} B per inbound SA (slot + owner state); {} pending reclaim at the end\n",
                   sizeof(InSlot) + sizeof(InState), u.pending);
    }
    t.reset();
    rte_eal_cleanup();
    return 0;
}

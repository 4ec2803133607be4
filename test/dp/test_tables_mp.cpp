// dataplane/tables across processes: this binary is the DPDK primary (hugepages,
// --file-prefix tblmp -m 64) holding the tables and one RCU reader; it starts itself
// again as a --proc-type=secondary writer (the espgw-ike role) that installs,
// replaces and deletes SAs, adds a policy and a route, and waits for a lifetime event
// the primary's reader raises. Meanwhile the primary keeps looking SAs up (checking
// keys against the SPI they were derived from), reports quiescent states and runs
// refresh() (the control-thread role). Prints TESTCASE lines; exit 0 = all passed.
#include <rte_eal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/tables/publish.hpp"
#include "dataplane/tables/reader.hpp"
#include "dataplane/tables/writer.hpp"

extern char** environ;

using namespace espgw;
using namespace espgw::tables;

namespace {

constexpr const char* kPrefix = "tblmp";
constexpr const char* kName = "mp";
constexpr uint32_t kSas = 200;  // ids 0..199: even inbound, odd outbound

std::array<uint8_t, 20> keymat_for(uint32_t spi) {
    std::array<uint8_t, 20> k{};
    uint32_t x = spi * 2654435761u + 0x9e3779b9u;
    for (auto& b : k) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        b = static_cast<uint8_t>(x | 1);
    }
    return k;
}
uint32_t spi_of(uint32_t id, uint32_t version) { return 0x10000 + version * 0x1000 + id; }

WriteResult put(Tables& t, uint32_t id, uint32_t version, bool replace) {
    const auto km = keymat_for(spi_of(id, version));
    SaParams p;
    p.id = id;
    p.dir = id % 2 == 0 ? Direction::in : Direction::out;
    p.cfg.spi = spi_of(id, version);
    p.cfg.suite = {crypto::Cipher::aes_gcm_128, crypto::Integ::none};
    p.cfg.mode = esp::Mode::transport;
    p.enc_keymat = km;
    if (id == 0) p.life.soft_packets = 1;  // the primary charges one packet
    return replace ? replace_sa(t, p) : install_sa(t, p);
}

int fails = 0;
void result(bool ok, const char* name, const std::string& why = "") {
    if (ok)
        std::printf("TESTCASE PASS %s\n", name);
    else {
        std::printf("TESTCASE FAIL %s: %s\n", name, why.c_str());
        ++fails;
    }
    std::fflush(stdout);
}

/// The secondary: the control process's role.
int secondary() {
    std::unique_ptr<Tables> t;
    try {
        t = Tables::attach_secondary(kPrefix, kName, {"--log-level=3"});
    } catch (const std::exception& e) {
        std::printf("TESTCASE FAIL mp_secondary_attach: %s\n", e.what());
        return 1;
    }
    result(true, "mp_secondary_attach");
    bool ok = true;
    std::string why;
    for (uint32_t id = 0; id < kSas; ++id)
        if (WriteResult r = put(*t, id, 0, false); !r.ok()) ok = false, why = r.error;
    for (uint32_t id = 100; id < kSas; ++id)  // rekey half: new SPIs
        if (WriteResult r = put(*t, id, 1, true); !r.ok()) ok = false, why = r.error;
    for (uint32_t id = 150; id < kSas; ++id)
        if (WriteResult r = delete_sa(*t, id); !r.ok()) ok = false, why = r.error;
    Policy p;
    p.priority = 5;
    p.action = PolicyAction::protect;
    p.sa_id = 1;
    p.dst[0] = 10;
    p.dst_len = 8;
    if (WriteResult r = install_policy(*t, p, nullptr); !r.ok()) ok = false, why = r.error;
    Route rt;
    rt.len = 8;
    rt.prefix[0] = 10;
    rt.port = 7;
    if (WriteResult r = add_route(*t, rt); !r.ok()) ok = false, why = r.error;
    result(ok, "mp_secondary_writes", why);

    // Wait for the soft-lifetime event of SA 0 that the primary's reader raises.
    bool got = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!got && std::chrono::steady_clock::now() < until) {
        std::array<Event, 8> ev;
        const size_t n = poll_events(*t, ev);
        for (size_t i = 0; i < n; ++i) got |= ev[i].sa_id == 0 && ev[i].kind == EventKind::soft_expired;
        reclaim(*t, false);  // reclaims as the primary's reader passes quiescent states
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    result(got, "mp_secondary_receives_lifetime_event", "no soft_expired event for SA 0 within 10 s");
    // Everything retired by this process is reclaimed within a few poll iterations.
    const auto until2 = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (usage(*t).pending != 0 && std::chrono::steady_clock::now() < until2) {
        reclaim(*t, false);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    result(usage(*t).pending == 0, "mp_secondary_reclaims_after_primary_quiescent",
           std::to_string(usage(*t).pending) + " slots still pending");
    std::vector<SaInfo> list = list_sas(*t);
    result(list.size() == 150, "mp_secondary_list_sas", std::to_string(list.size()) + " SAs listed, want 150");
    t.reset();
    rte_eal_cleanup();
    return fails == 0 ? 0 : 1;
}

int primary(const char* self) {
    const char* eal[] = {"test_tables_mp", "--no-pci", "-m", "64", "--file-prefix", kPrefix, "--log-level=3"};
    if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
        std::printf("TESTCASE FAIL mp_primary_eal: rte_eal_init with hugepages failed\n");
        return 1;
    }
    Limits l;
    l.max_sas = 512;
    l.max_ids = 1024;
    l.max_policies = 16;
    l.max_routes = 16;
    l.workers = 1;
    l.event_ring_size = 64;
    auto t = Tables::create(kName, l);
    auto reader = std::make_unique<Reader>(*t, 0);
    Reader& r = *reader;

    char arg1[] = "secondary";
    char* argv[] = {const_cast<char*>(self), arg1, nullptr};
    pid_t pid;
    if (posix_spawn(&pid, self, nullptr, nullptr, argv, environ) != 0) {
        std::printf("TESTCASE FAIL mp_spawn_secondary: posix_spawn failed\n");
        return 1;
    }
    uint64_t seen = 0, bad = 0;
    bool charged = false;
    int status = -1;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
        // One "poll-loop iteration": lookups, then the quiescent report.
        for (uint32_t id = 0; id < kSas; ++id) {
            for (uint32_t v = 0; v < 2; ++v) {
                const uint32_t spi = spi_of(id, v);
                const auto km = keymat_for(spi);
                if (id % 2 == 0) {
                    InRef in;
                    if (!r.inbound(spi, in)) continue;
                    ++seen;
                    if (in.sa->spi != spi || in.id != id || std::memcmp(in.sa->session.enc_key, km.data(), 16) != 0) ++bad;
                    if (id == 0 && !charged) {
                        in.st->packets += 1;  // what the ESP transform does
                        r.charge(in);
                        charged = true;
                    }
                } else if (v == 0) {
                    OutRef out;
                    if (!r.outbound(id, out)) continue;
                    ++seen;
                    const auto k2 = keymat_for(out.sa->spi);
                    if (out.id != id || std::memcmp(out.sa->session.enc_key, k2.data(), 16) != 0) ++bad;
                }
            }
        }
        r.quiescent();
        refresh(*t);  // the primary's control-thread role
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        result(false, "mp_secondary_finishes", "secondary still running after 30 s");
    } else {
        result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "mp_secondary_finishes",
               "secondary exit status " + std::to_string(status));
    }
    result(bad == 0 && seen > 0, "mp_primary_reads_consistent_sas",
           std::to_string(bad) + " inconsistent of " + std::to_string(seen));

    // The state the secondary left: ids 0..99 v0, 100..149 v1, 150..199 gone.
    refresh(*t);
    bool ok = true;
    for (uint32_t id = 0; id < kSas; id += 2) {
        InRef in;
        const bool want_v0 = id < 100, want_v1 = id >= 100 && id < 150;
        ok &= r.inbound(spi_of(id, 0), in) == want_v0;
        ok &= r.inbound(spi_of(id, 1), in) == want_v1;
    }
    result(ok, "mp_primary_sees_installs_rekeys_deletes");
    const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {10, 1, 1, 1};
    SpdKey k;
    k.src = src;
    k.dst = dst;
    const SpdMatch m = r.spd(k);
    result(m.kind == SpdMatch::protect && m.sa_id == 1, "mp_policy_from_secondary_published_in_primary");
    const RouteHop* h = r.route(4, dst);
    result(h != nullptr && h->port == 7, "mp_route_from_secondary_published_in_primary");
    r.quiescent();
    reclaim(*t, false);
    uint32_t dirty = 0;
    for (uint32_t i = 0; i < l.max_sas; ++i)
        if (t->in[i].phase.load() == kSlotFree && t->in[i].sa.session.salt[0] != 0) ++dirty;
    result(dirty == 0 && usage(*t).pending == 0, "mp_reclaimed_slots_wiped");
    reader.reset();
    t.reset();
    rte_eal_cleanup();
    return fails == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "secondary") == 0) return secondary();
    return primary("/proc/self/exe");
}

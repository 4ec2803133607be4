// espgw-dp: flags, EAL init, mempool, tables, ports, workers, stats socket, shutdown.
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/dp/config.hpp"
#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/frag.hpp"
#include "dataplane/dp/handoff.hpp"
#include "dataplane/dp/port.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/stats.hpp"
#include "dataplane/dp/unprivileged.hpp"
#include "dataplane/nat/nat_path.hpp"
#include "dataplane/dp/worker.hpp"

namespace po = boost::program_options;
using namespace espgw::dp;

namespace {

Dataplane* g_dp = nullptr;

void on_signal(int) {
    if (g_dp) g_dp->stop.store(true, std::memory_order_relaxed);
}

/// Hugepages usable: a hugetlbfs mount and free pages.
bool hugepages_available() {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    bool mounted = false;
    while (std::getline(mounts, line)) mounted |= line.find(" hugetlbfs ") != std::string::npos;
    if (!mounted) return false;
    std::ifstream mi("/proc/meminfo");
    while (std::getline(mi, line))
        if (line.rfind("HugePages_Free:", 0) == 0) return std::stoul(line.substr(15)) >= 64;
    return false;
}

std::vector<std::string> eal_args(const Config& cfg, const std::string& prefix, const std::string& log_level,
                                  const std::string& extra) {
    std::vector<std::string> a{"espgw-dp"};
    // lcore 0: main (stats, control); workers on the configured lcores, mapped onto
    // the CPUs this machine has (a small VM may run more workers than cores).
    std::vector<uint32_t> lcores = cfg.dataplane.lcores;
    if (lcores.empty())
        for (uint32_t i = 1; i <= cfg.dataplane.workers; ++i) lcores.push_back(i);
    unsigned ncpu = std::max(1u, std::thread::hardware_concurrency());
    std::string map = "0@0";
    for (uint32_t l : lcores) map += fmt::format(",{}@{}", l, l % ncpu);
    a.push_back("--lcores=" + map);
    a.push_back("--file-prefix=" + prefix);
    bool pci = false;
    for (const PortConfig& p : cfg.ports) {
        if (p.is_pci) {
            a.push_back("-a");
            a.push_back(p.device);
            pci = true;
        } else {
            a.push_back("--vdev=" + p.device);
        }
    }
    if (!pci) a.push_back("--no-pci");  // never probe this machine's own NICs
    bool huge = cfg.dataplane.hugepages == "on" || (cfg.dataplane.hugepages == "auto" && hugepages_available());
    if (!huge) {
        a.push_back("--no-huge");
        a.push_back("-m");
        a.push_back(std::to_string(cfg.dataplane.memory_mb));
    }
    a.push_back("--log-level=" + log_level);
    std::istringstream ss(extra);
    for (std::string t; ss >> t;) a.push_back(t);
    return a;
}

int run(int argc, char** argv) {
    std::string config_path, eal_extra, log_level, stats_path, prefix, run_as;
    po::options_description desc("espgw-dp options");
    desc.add_options()("help,h", "show this help")("config,c", po::value(&config_path)->required(),
                                                   "TOML configuration file")(
        "eal", po::value(&eal_extra)->default_value(""), "extra DPDK EAL arguments (space separated)")(
        "log-level", po::value(&log_level)->default_value("notice"), "DPDK log level (error, warning, notice, info, debug)")(
        "stats-socket", po::value(&stats_path)->default_value("/run/espgw-dp.sock"), "stats/control unix socket")(
        "file-prefix", po::value(&prefix)->default_value("espgw-dp"), "DPDK --file-prefix (unique per instance)")(
        "no-idle-backoff", "poll without sleeping (benchmarks)")(
        "user", po::value(&run_as),
        "USER[:GROUP]: once the ports are up and the stats socket is bound, hand DPDK's shared files to this user "
        "and drop root (no capabilities left)")("check", "validate the configuration and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        fmt::print(stderr, "espgw-dp: {}\n{}", e.what(), (std::ostringstream() << desc).str());
        return 2;
    }
    Config cfg;
    try {
        cfg = load_config(config_path);
    } catch (const ConfigError& e) {
        fmt::print(stderr, "espgw-dp: bad configuration: {}\n", e.what());
        return 2;
    }
    if (vm.count("no-idle-backoff")) {
        cfg.dataplane.idle_backoff = false;
        cfg.dataplane.idle = IdleMode::off;
    }
    if (vm.count("check")) {
        fmt::print("espgw-dp: {} is valid ({} ports, {} routes, {} SAs, {} policies)\n", config_path, cfg.ports.size(),
                   cfg.routes.size(), cfg.sas.size(), cfg.policies.size());
        return 0;
    }

    auto args = eal_args(cfg, prefix, log_level, eal_extra);
    std::vector<char*> cargs;
    for (auto& s : args) cargs.push_back(s.data());
    fmt::print(stderr, "espgw-dp: EAL {}\n", fmt::join(args, " "));
    if (rte_eal_init(static_cast<int>(cargs.size()), cargs.data()) < 0) {
        fmt::print(stderr, "espgw-dp: EAL init failed: {}\n", rte_strerror(rte_errno));
        return 1;
    }
    int rc = 0;
    {
        auto dp = std::make_unique<Dataplane>();
        dp->cfg = cfg;
        g_dp = dp.get();
        std::signal(SIGINT, on_signal);
        std::signal(SIGTERM, on_signal);
        try {
            int socket = static_cast<int>(rte_socket_id());
            uint32_t max_mtu = 1500;
            for (auto& p : cfg.ports) max_mtu = std::max(max_mtu, p.mtu);
            auto room = static_cast<uint16_t>(
                std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, RTE_PKTMBUF_HEADROOM + 14 + max_mtu + 128));
            dp->pool = rte_pktmbuf_pool_create(kPoolName, cfg.dataplane.mbufs, 256, kMbufPrivBytes, room, socket);
            if (!dp->pool) throw std::runtime_error(fmt::format("mbuf pool: {}", rte_strerror(rte_errno)));
            dp->punt.create(cfg.dataplane.punt_ring_size, socket);
            dp->sa = std::make_unique<SaBinding>(*dp);

            unsigned lc = rte_get_next_lcore(-1, 1, 0);
            for (uint32_t i = 0; i < cfg.dataplane.workers; ++i) {
                if (lc >= RTE_MAX_LCORE) throw std::runtime_error("not enough worker lcores");
                auto w = std::make_unique<Worker>(*dp, i, lc);
                frag_init(*w, socket);
                handoff_create(*w, socket);
                w->sa = std::make_unique<SaReader>(*dp, i);
                dp->workers.push_back(std::move(w));
                lc = rte_get_next_lcore(lc, 1, 0);
            }
            ports_start(*dp);
            for (uint32_t i = 0; i < dp->nb_ports; ++i) {
                // Static neighbours need the port index only, but log once ports are up.
                (void)i;
            }
            for (const NeighborConfig& n : cfg.neighbors)
                dp->neighbors.learn(static_cast<uint16_t>(n.port), n.addr.family, n.addr.bytes, n.mac, true);

            StatsServer stats(*dp, stats_path);
            if (!run_as.empty()) {
                // Before the workers start: a refusal stops the process cleanly.
                if (std::string e = run_unprivileged(run_as); !e.empty())
                    throw std::runtime_error(fmt::format("refusing to run: cannot drop privileges to {}: {}", run_as, e));
                fmt::print(stderr, "espgw-dp: running as {} (uid {}, gid {}), no capabilities\n", run_as, getuid(),
                           getgid());
            }
            for (auto& w : dp->workers) rte_eal_remote_launch(worker_main, w.get(), w->lcore);
            for (uint32_t i = 0; i < dp->nb_ports; ++i) {
                const PortInfo& p = dp->ports[i];
                fmt::print(stderr, "espgw-dp: port {} ({}) dpdk {} mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} mtu {}\n",
                           p.name, p.role == PortRole::outside ? "outside" : "inside", p.port_id, p.mac[0], p.mac[1],
                           p.mac[2], p.mac[3], p.mac[4], p.mac[5], p.mtu);
            }
            fmt::print(stderr, "espgw-dp: ready: {} workers, {} SAs, {} policies, idle back-off {}, stats {}\n",
                       dp->workers.size(), cfg.sas.size(), cfg.policies.size(),
                       cfg.dataplane.idle == IdleMode::interrupt ? "interrupt" : cfg.dataplane.idle_backoff ? "on" : "off",
                       stats_path);
            while (!dp->stop.load(std::memory_order_relaxed)) {
                stats.poll_once(100);
                dp->sa->control_tick();
                espgw::nat::control_tick(*dp);  // firewall log lines (dataplane/nat/nat_path.hpp)
            }
            fmt::print(stderr, "espgw-dp: stopping\n");
            rte_eal_mp_wait_lcore();
        } catch (const std::exception& e) {
            fmt::print(stderr, "espgw-dp: {}\n", e.what());
            dp->stop.store(true);
            rte_eal_mp_wait_lcore();
            rc = 1;
        }
        ports_stop(*dp);
        g_dp = nullptr;
        dp->workers.clear();
        dp->sa.reset();
    }
    rte_eal_cleanup();
    return rc;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }

// espgw-ike: the IKEv2 control process. Reads the TOML configuration, listens for IKE
// on UDP 500/4500 and hands negotiated CHILD_SAs to the SA sink.
#include "control/ike/config.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/log.hpp"
#include "control/ike/sa_sink_json.hpp"
#include "control/ike/transport_udp.hpp"
#ifdef ESPGW_IKE_DATAPLANE
#include "control/ike/sa_sink_tables.hpp"
#include "control/ike/transport_dp.hpp"
#include "dataplane/tables/tables.hpp"
#endif

#include <boost/program_options.hpp>

#include <csignal>
#include <iostream>

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

#ifdef ESPGW_IKE_DATAPLANE
/// espgw-ike as a DPDK secondary of espgw-dp: IKE via punt/inject, SAs into the tables.
int run_dataplane(const espgw::ike::IkeConfig& cfg, const std::string& prefix) {
    using namespace espgw::ike;
    try {
        // A secondary needs no worker lcores; keep it on the main lcore only.
        auto tables = espgw::tables::Tables::attach_secondary(prefix, "espgw", {"--lcores=0@0", "--log-level=error"});
        DpTransport transport;
        TablesSaSink sink(*tables);
        IkeManager manager(cfg, transport, sink);
        sink.set_listener(&manager);
        log_info("attached to espgw-dp (file prefix {}): IKE through its punt/inject rings, {} connection(s)", prefix,
                 cfg.connections.size());
        while (!g_stop) {
            transport.poll_once(100, [&](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) {
                manager.on_message(l, r, m);
            });
            sink.poll_events();
            manager.tick(std::chrono::steady_clock::now());
        }
        log_info("stopping: {} IKE SA(s), {} CHILD_SA pair(s) in the dataplane stay until their lifetimes",
                 manager.ike_sa_count(), sink.pairs());
    } catch (const std::exception& e) {
        std::cerr << "espgw-ike: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    using namespace espgw::ike;
    po::options_description desc("espgw-ike options");
    std::string config_path, sa_output, dp_prefix;
    desc.add_options()
        ("help,h", "show this help")
        ("config,c", po::value<std::string>(&config_path)->required(), "TOML configuration file")
        ("sa-output", po::value<std::string>(&sa_output), "append negotiated CHILD_SAs (no keys) as JSON lines here (overrides ike.sa_output)")
        ("dataplane", po::value<std::string>(&dp_prefix),
         "attach to espgw-dp (DPDK --file-prefix of its primary): IKE through its punt/inject rings, CHILD_SAs into its shared tables")
        ("check", "validate the configuration and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "espgw-ike: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    IkeConfig cfg;
    try {
        cfg = load_config(config_path);
    } catch (const std::exception& e) {
        std::cerr << "espgw-ike: configuration refused: " << e.what() << "\n";
        return 1;
    }
    if (vm.count("check")) {
        std::cout << "configuration ok: " << cfg.connections.size() << " connection(s)\n";
        return 0;
    }
    if (!sa_output.empty()) cfg.sa_output = sa_output;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    if (!dp_prefix.empty()) {
#ifdef ESPGW_IKE_DATAPLANE
        return run_dataplane(cfg, dp_prefix);
#else
        std::cerr << "espgw-ike: built without the dataplane (DPDK): --dataplane is not available\n";
        return 2;
#endif
    }
    try {
        UdpTransport transport(cfg.listen_addr, cfg.port, cfg.natt_port);
        JsonSaSink sink(cfg.sa_output);
        IkeManager manager(cfg, transport, sink);
        log_info("listening on {}:{} and :{} with {} connection(s)", cfg.listen_addr, cfg.port, cfg.natt_port,
                 cfg.connections.size());
        while (!g_stop) {
            transport.poll_once(200, [&](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) {
                manager.on_message(l, r, m);
            });
            manager.tick(std::chrono::steady_clock::now());  // timers: retransmits, DPD, rekey, keepalives
        }
        log_info("stopping: {} IKE SA(s)", manager.ike_sa_count());
    } catch (const std::exception& e) {
        std::cerr << "espgw-ike: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

// espgw-ike: the IKEv2 control process. Reads the TOML configuration, listens for IKE
// on UDP 500/4500 and hands negotiated CHILD_SAs to the SA sink.
#include "control/ike/config.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/log.hpp"
#include "control/ike/sa_sink_json.hpp"
#include "control/ike/transport_udp.hpp"

#include <boost/program_options.hpp>

#include <csignal>
#include <iostream>

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    using namespace espgw::ike;
    po::options_description desc("espgw-ike options");
    std::string config_path, sa_output;
    desc.add_options()
        ("help,h", "show this help")
        ("config,c", po::value<std::string>(&config_path)->required(), "TOML configuration file")
        ("sa-output", po::value<std::string>(&sa_output), "append negotiated CHILD_SAs (no keys) as JSON lines here (overrides ike.sa_output)")
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

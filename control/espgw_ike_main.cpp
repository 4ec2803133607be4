// espgw-ike: the IKEv2 control process. Reads the TOML configuration, listens for IKE
// on UDP 500/4500 and hands negotiated CHILD_SAs to the SA sink.
#include "control/common/privdrop.hpp"
#include "control/ike/config.hpp"
#include "control/ike/control_commands.hpp"
#include "control/ike/control_server.hpp"
#include "control/ike/lease_store.hpp"
#include "control/ike/ike_manager.hpp"
#include "control/ike/log.hpp"
#include "control/ike/ms_crypto.hpp"
#include "control/ike/user_db.hpp"
#include "control/ike/sa_sink_json.hpp"
#include "control/ike/transport_udp.hpp"
#ifdef ESPGW_IKE_DATAPLANE
#include "control/ike/dp_agent.hpp"
#include "control/ike/dp_link.hpp"
#endif

#include <boost/program_options.hpp>

#include <csignal>
#include <cstdlib>
#include <string_view>
#include <iostream>
#include <map>
#include <memory>
#include <set>

namespace {
volatile std::sig_atomic_t g_stop = 0;
// A clean stop waits this long for the RADIUS server to answer Accounting-Off.
constexpr auto kAccountingOffWait = std::chrono::seconds(3);
void on_signal(int) { g_stop = 1; }

/// Options of the CLI socket and the lease file, from the command line.
struct CliOptions {
    std::string config_path;
    std::string control_socket;  // empty: no CLI socket
    std::string lease_file;      // overrides [ike] lease_file
    std::string run_as;          // --user USER[:GROUP]: drop root once the sockets are open
};

/// Issue 7: once the IKE sockets, the CLI socket and (with --dataplane) the DPDK shared
/// memory are open, nothing else needs root: switch to the configured user. False when
/// the switch was asked for and failed (the daemon then refuses to run as root).
bool drop_root(const CliOptions& o) {
    if (o.run_as.empty()) return true;
    const auto colon = o.run_as.find(':');
    const std::string user = o.run_as.substr(0, colon);
    const std::string group = colon == std::string::npos ? std::string{} : o.run_as.substr(colon + 1);
    const auto r = espgw::drop_privileges(user, group);
    if (!r.ok) {
        espgw::ike::log_warn("refusing to run: cannot drop privileges to {}: {}", o.run_as, r.error);
        return false;
    }
    espgw::ike::log_info("running as uid {} gid {} ({}), no capabilities", r.uid, r.gid, o.run_as);
    return true;
}

/// start_action = "start": initiate every such connection once at start-up (the
/// manager initiates again after such an IKE SA is cleared). Control thread.
void start_connections(const espgw::ike::IkeConfig& cfg, espgw::ike::IkeManager& manager) {
    for (const auto& c : cfg.connections)
        if (c.start) manager.initiate(c.name);
}

/// The CLI socket and the lease file around one IkeManager: restores the leases at
/// start, serves the socket and rewrites the lease file when a lease changed. Called
/// from the main loop between IKE events (control thread).
class Cli {
public:
    Cli(espgw::ike::IkeConfig& cfg, espgw::ike::IkeManager& manager, espgw::ike::UserDb& users, const CliOptions& o)
        : manager_(manager), control_(cfg, manager, o.config_path),
          lease_file_(o.lease_file.empty() ? cfg.lease_file : o.lease_file) {
        using namespace espgw::ike;
        control_.set_users(&users);  // `user ...` commands and reload change it in place
        if (!lease_file_.empty()) {
            size_t skipped = 0;
            const auto leases = load_leases(lease_file_, &skipped);
            const size_t n = restore_leases(leases, manager.pools());
            log_info("lease file {}: {} lease(s) restored, {} skipped", lease_file_, n, leases.size() - n + skipped);
        }
        generation_ = generation();
        if (!o.control_socket.empty()) {
            server_ = std::make_unique<ControlServer>(o.control_socket, cfg.control_group,
                                                      [this](std::string_view line) { return control_.answer(line); });
            log_info("control socket {} (mode 0660, group {})", o.control_socket, cfg.control_group);
        }
    }
    espgw::ike::IkeControl& control() noexcept { return control_; }
    void service() {
        if (server_) server_->poll_once();
        const uint64_t g = generation();
        if (g != generation_ && !lease_file_.empty()) {
            std::string err;
            if (espgw::ike::save_leases(lease_file_, manager_.pools(), &err))
                generation_ = g;
            else
                espgw::ike::log_warn("lease file {}: {}", lease_file_, err);  // retried at the next change
        }
    }

private:
    uint64_t generation() {
        uint64_t g = 0;
        for (const auto& [n, p] : manager_.pools()) g += p.generation();
        return g;
    }
    espgw::ike::IkeManager& manager_;
    espgw::ike::IkeControl control_;
    std::string lease_file_;
    uint64_t generation_ = 0;
    std::unique_ptr<espgw::ike::ControlServer> server_;
};

#ifdef ESPGW_IKE_DATAPLANE
/// espgw-ike with espgw-dp: IKE through its punt/inject rings and CHILD_SAs into its
/// tables, both through the dataplane agent (control/ike/dp_agent.hpp), a child process
/// that is the DPDK secondary and survives restarts of espgw-dp; DpLink re-installs
/// every live CHILD_SA when espgw-dp comes back.
int run_dataplane(espgw::ike::IkeConfig& cfg, espgw::ike::UserDb& users, const std::string& prefix,
                  const CliOptions& cli_opts) {
    using namespace espgw::ike;
    try {
        DpLink link(prefix, cfg.restart_grace_s);
        IkeManager manager(cfg, link, link);
        manager.set_users(&users);  // EAP-MSCHAPv2 / EAP-GTC connections
        link.set_listener(&manager);
        log_info("espgw-dp (file prefix {}): IKE through its punt/inject rings, {} connection(s)", prefix,
                 cfg.connections.size());
        Cli cli(cfg, manager, users, cli_opts);
        if (!drop_root(cli_opts)) return 1;  // the agent keeps root: it holds DPDK's shared memory
        start_connections(cfg, manager);
        std::map<std::pair<uint32_t, bool>, ChildCounters> dp_counters;
        cli.control().set_refresh([&] { dp_counters = link.counters(); });
        cli.control().set_counters([&](uint32_t spi, bool in) -> std::optional<ChildCounters> {
            auto it = dp_counters.find({spi, in});
            if (it == dp_counters.end()) return std::nullopt;
            return it->second;
        });
        while (!g_stop) {
            cli.service();
            link.poll_once(100, [&](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) {
                manager.on_message(l, r, m);
            });
            manager.tick(std::chrono::steady_clock::now());
        }
        log_info("stopping: {} IKE SA(s), {} CHILD_SA pair(s) in the dataplane stay until their lifetimes",
                 manager.ike_sa_count(), link.pairs());
        if (RadiusService* r = manager.radius()) r->stop(kAccountingOffWait);  // RFC 2866 Accounting-Off
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
#ifdef ESPGW_IKE_DATAPLANE
    // The dataplane agent (started by espgw-ike itself, see dp_agent.hpp):
    //   --dp-agent PREFIX --agent-fd N [--agent-grace S] [--agent-generation G]
    if (argc >= 5 && std::string_view(argv[1]) == "--dp-agent") {
        std::string prefix = argv[2];
        int fd = -1;
        uint32_t grace = 60, generation = 1;
        for (int i = 3; i + 1 < argc; i += 2) {
            const std::string_view k = argv[i];
            const unsigned long v = std::strtoul(argv[i + 1], nullptr, 10);
            if (k == "--agent-fd") fd = static_cast<int>(v);
            else if (k == "--agent-grace") grace = static_cast<uint32_t>(v);
            else if (k == "--agent-generation") generation = static_cast<uint32_t>(v);
        }
        if (fd < 0) return 2;
        std::signal(SIGINT, SIG_IGN);  // the IKE process decides; the agent follows its socket
        return run_dp_agent(prefix, fd, grace, generation);
    }
#endif
    po::options_description desc("espgw-ike options");
    std::string config_path, sa_output, dp_prefix, control_socket, lease_file, run_as;
    desc.add_options()
        ("help,h", "show this help")
        ("config,c", po::value<std::string>(&config_path)->required(), "TOML configuration file")
        ("sa-output", po::value<std::string>(&sa_output), "append negotiated CHILD_SAs (no keys) as JSON lines here (overrides ike.sa_output)")
        ("dataplane", po::value<std::string>(&dp_prefix),
         "attach to espgw-dp (DPDK --file-prefix of its primary): IKE through its punt/inject rings, CHILD_SAs into its shared tables")
        ("control-socket", po::value<std::string>(&control_socket)->default_value("/run/espgw-ike.sock"),
         "unix socket of the espctl commands (mode 0660, group [ike] control_group); \"none\": no socket")
        ("lease-file", po::value<std::string>(&lease_file),
         "file that keeps the virtual-IP leases across restarts (overrides [ike] lease_file)")
        ("user", po::value<std::string>(&run_as),
         "USER[:GROUP]: after opening its sockets (and attaching to espgw-dp), drop root and run as this user with no "
         "capabilities; the lease and users files must be writable by it")
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
    // Issue 6: the local user database, read (and its sealing key created) before any
    // privilege drop; `espctl user ...` and reload change it in place.
    UserDb users;
    try {
        users = load_users(cfg);
    } catch (const std::exception& e) {
        std::cerr << "espgw-ike: user database refused: " << e.what() << "\n";
        return 1;
    }
    if (vm.count("check")) {
        std::cout << "configuration ok: " << cfg.connections.size() << " connection(s), " << users.users().size()
                  << " local user(s)\n";
        return 0;
    }
    if (!cfg.users_file.empty()) {
        log_info("user database {}: {} user(s)", cfg.users_file, users.users().size());
        try {
            ms_crypto_init();  // load the legacy provider (MD4, DES) while its files are readable
        } catch (const std::exception& e) {
            log_warn("EAP-MSCHAPv2 and new passwords unavailable: {}", e.what());
        }
    }
    if (!sa_output.empty()) cfg.sa_output = sa_output;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const CliOptions cli_opts{config_path, control_socket == "none" ? std::string{} : control_socket, lease_file,
                                run_as};
    if (!dp_prefix.empty()) {
#ifdef ESPGW_IKE_DATAPLANE
        return run_dataplane(cfg, users, dp_prefix, cli_opts);
#else
        std::cerr << "espgw-ike: built without the dataplane (DPDK): --dataplane is not available\n";
        return 2;
#endif
    }
    try {
        UdpTransport transport(cfg.listen_addr, cfg.port, cfg.natt_port);
        JsonSaSink sink(cfg.sa_output);
        IkeManager manager(cfg, transport, sink);
        manager.set_users(&users);  // EAP-MSCHAPv2 / EAP-GTC connections
        log_info("listening on {}:{} and :{} with {} connection(s)", cfg.listen_addr, cfg.port, cfg.natt_port,
                 cfg.connections.size());
        Cli cli(cfg, manager, users, cli_opts);
        if (!drop_root(cli_opts)) return 1;
        start_connections(cfg, manager);
        while (!g_stop) {
            cli.service();
            transport.poll_once(100, [&](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) {
                manager.on_message(l, r, m);
            });
            manager.tick(std::chrono::steady_clock::now());  // timers: retransmits, DPD, rekey, keepalives
        }
        log_info("stopping: {} IKE SA(s)", manager.ike_sa_count());
        if (RadiusService* r = manager.radius()) r->stop(kAccountingOffWait);  // RFC 2866 Accounting-Off
    } catch (const std::exception& e) {
        std::cerr << "espgw-ike: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

#include "control/ike/dp_agent.hpp"

#include "control/ike/dp_agent_proto.hpp"
#include "control/ike/log.hpp"
#include "control/ike/sa_sink_tables.hpp"
#include "control/ike/transport_dp.hpp"
#include "dataplane/tables/tables.hpp"
#include "dataplane/tables/writer.hpp"

#include <rte_eal.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace espgw::ike {

namespace {

using namespace agent;
using Clock = std::chrono::steady_clock;

/// Closes every descriptor but stdio and `keep`: DPDK's files (config, fbarrays,
/// hugepages) carry fcntl locks that would otherwise survive exec and keep a new
/// espgw-dp from initialising.
void close_all_but(int keep) {
    if (keep > 3) close_range(3, static_cast<unsigned>(keep - 1), 0);
    close_range(static_cast<unsigned>(keep + 1), ~0u, 0);
}

/// Re-executes this binary as a fresh agent (the socket stays open: no FD_CLOEXEC).
[[noreturn]] void reexec(const std::string& prefix, int fd, uint32_t grace_s, uint32_t generation) {
    close_all_but(fd);
    const std::string sfd = std::to_string(fd), sg = std::to_string(grace_s), sgen = std::to_string(generation);
    const char* argv[] = {"espgw-ike",   "--dp-agent", prefix.c_str(), "--agent-fd", sfd.c_str(), "--agent-grace",
                          sg.c_str(),    "--agent-generation",          sgen.c_str(), nullptr};
    execv("/proc/self/exe", const_cast<char* const*>(argv));
    log_warn("dataplane agent: re-exec failed: {}", std::strerror(errno));
    _exit(3);
}

/// Reports dataplane expiry events up to the IKE process.
class ExpiryUp final : public ChildExpiryListener {
public:
    explicit ExpiryUp(int fd) : fd_(fd) {}
    void on_child_expired(uint32_t spi_in, bool hard) override {
        Writer w(Msg::EXPIRY);
        w.u32(spi_in).u8(hard);
        send_msg(fd_, w);
    }

private:
    int fd_;
};

}  // namespace

int run_dp_agent(const std::string& prefix, int fd, uint32_t grace_s, uint32_t generation) {
    // Keep the socket across our own re-exec.
    const int fl = fcntl(fd, F_GETFD);
    if (fl < 0) return 2;
    fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);

    // Wait for a live espgw-dp before touching EAL: a secondary that initialises
    // against a dead primary's files locks them and keeps a new primary from starting.
    // The primary holds a lock on its config file while it lives (DPDK's own test).
    const std::string config = "/var/run/dpdk/" + prefix + "/config";
    bool waited = false;
    while (rte_eal_primary_proc_alive(config.c_str()) == 0) {
        if (!waited) log_info("dataplane agent: waiting for espgw-dp (file prefix {})", prefix);
        waited = true;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0) {
            if (p.revents & (POLLHUP | POLLERR)) return 0;
            std::vector<uint8_t> buf;
            if (recv_msg(fd, buf, false) == 0) return 0;  // requests meanwhile: nothing to do them on
        }
    }
    if (waited) usleep(300000);  // let the new primary finish its start-up
    std::unique_ptr<tables::Tables> t;
    try {
        t = tables::Tables::attach_secondary(prefix, "espgw", {"--lcores=0@0", "--log-level=error"});
    } catch (const std::exception& e) {
        // Not ready yet: try again as a fresh process (rte_eal_init runs once per
        // process) after a pause.
        log_info("dataplane agent: cannot attach yet: {}", e.what());
        usleep(500000);
        reexec(prefix, fd, grace_s, generation);
    }
    DpTransport transport;
    TablesSaSink sink(*t);
    ExpiryUp up(fd);
    sink.set_listener(&up);
    log_info("dataplane agent: attached to espgw-dp (file prefix {}), generation {}", prefix, generation);

    std::set<uint32_t> leftover;
    for (const auto& s : tables::list_sas(*t))
        if (s.id >= TablesSaSink::kIdBase) leftover.insert(s.id);
    if (!leftover.empty())
        log_info("dataplane agent: {} SA(s) of an earlier espgw-ike found in the tables: kept forwarding for up to "
                 "{} s until their peers re-establish",
                 leftover.size(), grace_s);
    const auto leftover_deadline = Clock::now() + std::chrono::seconds(grace_s);
    auto drop_leftover = [&] {
        size_t np = 0, ns = 0;
        for (const auto& p : tables::list_policies(*t))
            if (p.p.action == tables::PolicyAction::protect && leftover.count(p.p.sa_id) &&
                tables::delete_policy(*t, p.id).ok())
                ++np;
        for (uint32_t id : leftover)
            if (tables::delete_sa(*t, id).ok()) ++ns;
        log_info("dataplane agent: removed {} SA(s) and {} policy(ies) of the earlier espgw-ike", ns, np);
        leftover.clear();
    };

    {
        Writer w(Msg::HELLO);
        w.u32(generation);
        if (!send_msg(fd, w)) return 0;
    }
    std::vector<uint8_t> buf;
    auto next_check = Clock::now();
    for (;;) {
        // Requests from the IKE process.
        for (int k = 0; k < 64; ++k) {
            const int r = recv_msg(fd, buf, false);
            if (r == 0) {
                log_info("dataplane agent: espgw-ike went away; the SAs stay in the dataplane");
                return 0;
            }
            if (r < 0) break;
            Reader rd(buf);
            const Msg type = rd.type();
            switch (type) {
                case Msg::SEND:
                case Msg::KEEPALIVE: {
                    const Endpoint l = rd.endpoint(), rem = rd.endpoint();
                    if (type == Msg::KEEPALIVE) {
                        transport.send_nat_keepalive(l, rem);
                    } else {
                        const auto m = rd.bytes();
                        if (!rd.failed()) transport.send(l, rem, m);
                    }
                    break;
                }
                case Msg::INSTALL:
                case Msg::REKEY: {
                    const uint32_t id = rd.u32();
                    uint32_t old_in = 0, old_out = 0;
                    if (type == Msg::REKEY) old_in = rd.u32(), old_out = rd.u32();
                    const ChildSaInfo info = rd.info();
                    const ChildSaKeys keys = rd.keys();
                    bool ok = false;
                    if (!rd.failed()) {
                        if (!leftover.empty()) drop_leftover();
                        ok = type == Msg::REKEY ? sink.rekey(old_in, old_out, info, keys) : sink.install(info, keys);
                    }
                    crypto::secure_wipe(buf.data(), buf.size());
                    Writer w(Msg::RESULT);
                    w.u32(id).u8(ok);
                    send_msg(fd, w);
                    break;
                }
                case Msg::REMOVE: {
                    const uint32_t in = rd.u32(), out = rd.u32();
                    if (!rd.failed()) sink.remove(in, out);
                    break;
                }
                case Msg::USAGE: {
                    const uint32_t id = rd.u32(), in = rd.u32(), out = rd.u32();
                    const SaUsage u = sink.usage(in, out);
                    Writer w(Msg::USAGE_REPLY);
                    w.u32(id).u64(u.in_bytes).u64(u.out_bytes).u64(u.in_packets).u64(u.out_packets);
                    send_msg(fd, w);
                    break;
                }
                case Msg::COUNTERS: {
                    const uint32_t id = rd.u32();
                    const auto sas = tables::list_sas(*t);
                    Writer w(Msg::COUNTERS_REPLY);
                    w.u32(id).u32(static_cast<uint32_t>(sas.size()));
                    for (const auto& s : sas)
                        w.u32(s.spi).u8(s.dir == tables::Direction::in).u64(s.counters.packets).u64(s.counters.bytes)
                            .u64(s.counters.seq);
                    send_msg(fd, w);
                    break;
                }
                default:
                    log_warn("dataplane agent: unexpected message type {} from espgw-ike", static_cast<int>(type));
                    break;
            }
        }
        if (!leftover.empty() && Clock::now() > leftover_deadline) drop_leftover();
        transport.poll_once(10, [&](const Endpoint& l, const Endpoint& r, std::span<const uint8_t> m) {
            Writer w(Msg::PUNT);
            w.endpoint(l).endpoint(r).bytes(m);
            send_msg(fd, w);
        });
        sink.poll_events();
        if (Clock::now() >= next_check) {
            next_check = Clock::now() + std::chrono::milliseconds(200);
            // The primary holds a lock on its config file while it lives.
            if (rte_eal_primary_proc_alive(nullptr) == 0) {
                log_warn("dataplane agent: espgw-dp went away: waiting for it to come back, then every live "
                         "CHILD_SA is re-installed");
                reexec(prefix, fd, grace_s, generation + 1);
            }
            // The IKE process may be gone without a message (killed).
            pollfd p{fd, 0, 0};
            if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) {
                log_info("dataplane agent: espgw-ike went away; the SAs stay in the dataplane");
                return 0;
            }
        }
    }
}

}  // namespace espgw::ike

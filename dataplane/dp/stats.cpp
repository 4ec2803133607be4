// Stats socket: JSON answers built with fmt.
#include "dataplane/dp/stats.hpp"
#include "dataplane/nat/nat_path.hpp"

#include <sstream>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/dp/worker.hpp"

namespace espgw::dp {

namespace {

std::string ports_json(const Dataplane& dp) {
    std::string s = "[";
    for (uint32_t p = 0; p < dp.nb_ports; ++p) {
        PortCounters sum;
        for (auto& w : dp.workers) {
            const PortCounters& c = w->counters.port[p];
            sum.rx_packets += cnt_read(c.rx_packets);
            sum.rx_bytes += cnt_read(c.rx_bytes);
            sum.tx_packets += cnt_read(c.tx_packets);
            sum.tx_bytes += cnt_read(c.tx_bytes);
            sum.tx_dropped += cnt_read(c.tx_dropped);
        }
        const PortInfo& pi = dp.ports[p];
        s += fmt::format(
            "{}{{\"name\":\"{}\",\"role\":\"{}\",\"port_id\":{},\"mtu\":{},\"rx_queues\":{},\"rss\":{},"
            "\"mac\":\"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\",\"rx_packets\":{},\"rx_bytes\":{},"
            "\"tx_packets\":{},\"tx_bytes\":{},\"tx_dropped\":{}}}",
            p ? "," : "", pi.name, pi.role == PortRole::outside ? "outside" : "inside", pi.port_id, pi.mtu, pi.nb_rxq,
            pi.rss, pi.mac[0], pi.mac[1], pi.mac[2], pi.mac[3], pi.mac[4], pi.mac[5], sum.rx_packets, sum.rx_bytes,
            sum.tx_packets, sum.tx_bytes, sum.tx_dropped);
    }
    return s + "]";
}

template <typename GetDp, typename GetEsp>
std::string drops_json(GetDp dp_count, GetEsp esp_count) {
    std::string s = "{";
    bool first = true;
    for (uint32_t r = 1; r < kDpDropCount; ++r) {
        s += fmt::format("{}\"{}\":{}", first ? "" : ",", dp_drop_name(static_cast<DpDrop>(r)), dp_count(r));
        first = false;
    }
    for (uint32_t r = 1; r < esp::kDropReasonCount; ++r)
        s += fmt::format(",\"esp_{}\":{}", esp::drop_reason_name(static_cast<esp::DropReason>(r)), esp_count(r));
    return s + "}";
}

std::string path_json(const PathCounters& c) {
    return fmt::format(
        "{{\"inbound_packets\":{},\"inbound_bytes\":{},\"outbound_packets\":{},\"outbound_bytes\":{},"
        "\"bypass_packets\":{},\"local_packets\":{},\"punted\":{},\"injected\":{},\"icmp_sent\":{},"
        "\"fragments_made\":{},\"reassembled\":{},\"handed_off\":{}}}",
        cnt_read(c.inbound_packets), cnt_read(c.inbound_bytes), cnt_read(c.outbound_packets),
        cnt_read(c.outbound_bytes), cnt_read(c.bypass_packets), cnt_read(c.local_packets), cnt_read(c.punted),
        cnt_read(c.injected), cnt_read(c.icmp_sent), cnt_read(c.fragments_made), cnt_read(c.reassembled), cnt_read(c.handed_off));
}

std::string workers_json(const Dataplane& dp) {
    std::string s = "[";
    for (size_t i = 0; i < dp.workers.size(); ++i) {
        const Worker& w = *dp.workers[i];
        const WorkerCounters& c = w.counters;
        s += fmt::format(
            "{}{{\"index\":{},\"lcore\":{},\"rx_queues\":{},\"iterations\":{},\"busy_polls\":{},\"sleeps\":{},"
            "\"sleep_ns\":{},\"path\":{},\"drops\":{}}}",
            i ? "," : "", w.index, w.lcore, w.nb_rxq, cnt_read(c.loop.iterations), cnt_read(c.loop.busy_polls),
            cnt_read(c.loop.sleeps), cnt_read(c.loop.sleep_ns), path_json(c.path),
            drops_json([&](uint32_t r) { return cnt_read(c.dp_drop[r]); },
                       [&](uint32_t r) { return cnt_read(c.esp_drop[r]); }));
    }
    return s + "]";
}

std::string total_drops_json(const Dataplane& dp) {
    return drops_json(
        [&](uint32_t r) {
            uint64_t t = 0;
            for (auto& w : dp.workers) t += cnt_read(w->counters.dp_drop[r]);
            return t;
        },
        [&](uint32_t r) {
            uint64_t t = 0;
            for (auto& w : dp.workers) t += cnt_read(w->counters.esp_drop[r]);
            return t;
        });
}

std::string total_path_json(const Dataplane& dp) {
    PathCounters t;
    for (auto& w : dp.workers) {
        const PathCounters& c = w->counters.path;
        t.inbound_packets += cnt_read(c.inbound_packets);
        t.inbound_bytes += cnt_read(c.inbound_bytes);
        t.outbound_packets += cnt_read(c.outbound_packets);
        t.outbound_bytes += cnt_read(c.outbound_bytes);
        t.bypass_packets += cnt_read(c.bypass_packets);
        t.local_packets += cnt_read(c.local_packets);
        t.punted += cnt_read(c.punted);
        t.injected += cnt_read(c.injected);
        t.icmp_sent += cnt_read(c.icmp_sent);
        t.fragments_made += cnt_read(c.fragments_made);
        t.reassembled += cnt_read(c.reassembled);
        t.handed_off += cnt_read(c.handed_off);
    }
    return path_json(t);
}

std::string neighbors_json(const Dataplane& dp) {
    std::string s = "[";
    bool first = true;
    dp.neighbors.for_each([&](uint16_t port, uint8_t family, const uint8_t* addr, const MacAddr& m, bool st) {
        s += fmt::format("{}{{\"port\":\"{}\",\"address\":\"{}\",\"mac\":\"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\","
                         "\"static\":{}}}",
                         first ? "" : ",", dp.ports[port].name, net::IpAddr::from_bytes(addr, family).to_string(), m[0],
                         m[1], m[2], m[3], m[4], m[5], st);
        first = false;
    });
    return s + "]";
}

}  // namespace

std::string stats_answer(const Dataplane& dp, const std::string& command) {
    std::string c = command;
    while (!c.empty() && (c.back() == '\n' || c.back() == '\r' || c.back() == ' ')) c.pop_back();
    {  // show nat|rules, rules load PATH (dataplane/nat/nat_path.hpp)
        std::vector<std::string> words;
        std::istringstream ss(c);
        for (std::string t; ss >> t;) words.push_back(t);
        if (std::string a = nat::natfw_answer(dp, words); !a.empty()) return a + "\n";
    }
    if (c == "ports") return ports_json(dp) + "\n";
    if (c == "workers") return workers_json(dp) + "\n";
    if (c == "drops") return total_drops_json(dp) + "\n";
    if (c == "sa") return (dp.sa ? dp.sa->stats_json() : std::string("[]")) + "\n";
    if (c == "neighbors") return neighbors_json(dp) + "\n";
    if (c == "stats" || c.empty())
        return fmt::format("{{\"ports\":{},\"path\":{},\"drops\":{},\"workers\":{},\"sa\":{},\"neighbors\":{}}}\n",
                           ports_json(dp), total_path_json(dp), total_drops_json(dp), workers_json(dp),
                           dp.sa ? dp.sa->stats_json() : std::string("[]"), neighbors_json(dp));
    return fmt::format("{{\"error\":\"unknown command; try stats, ports, workers, drops, sa, neighbors\"}}\n");
}

StatsServer::StatsServer(const Dataplane& dp, std::string path) : dp_(dp), path_(std::move(path)) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path_.size() >= sizeof sa.sun_path) throw std::runtime_error("stats socket path too long");
    std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) throw std::runtime_error(fmt::format("stats socket: {}", std::strerror(errno)));
    unlink(path_.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || listen(fd_, 8) != 0) {
        int e = errno;
        close(fd_);
        throw std::runtime_error(fmt::format("stats socket {}: {}", path_, std::strerror(e)));
    }
    chmod(path_.c_str(), 0660);
}

StatsServer::~StatsServer() {
    if (fd_ >= 0) {
        close(fd_);
        unlink(path_.c_str());
    }
}

void StatsServer::poll_once(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    // One short command line; wait for it at most 500 ms.
    std::string cmd;
    char buf[256];
    pollfd cp{c, POLLIN, 0};
    while (cmd.find('\n') == std::string::npos && cmd.size() < 1024 && poll(&cp, 1, 500) > 0) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        cmd.append(buf, static_cast<size_t>(n));
    }
    std::string answer = stats_answer(dp_, cmd.substr(0, cmd.find('\n')));
    size_t off = 0;
    while (off < answer.size()) {
        ssize_t n = write(c, answer.data() + off, answer.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    close(c);
}

}  // namespace espgw::dp

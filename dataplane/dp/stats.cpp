// Control socket: request parsing, JSON answers built with fmt, writer-API calls.
#include "dataplane/dp/stats.hpp"

#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "dataplane/dp/dataplane.hpp"
#include "dataplane/dp/sa.hpp"
#include "dataplane/nat/nat_path.hpp"
#include "dataplane/dp/worker.hpp"
#include "dataplane/tables/writer.hpp"

namespace espgw::dp {

std::string json_escape(std::string_view in) {
    std::string o;
    for (char c : in) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            o += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            o += c;
        }
    }
    return o;
}

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



std::string error_json(std::string_view code, std::string_view msg) {
    return fmt::format("{{\"error\":\"{}\",\"code\":\"{}\"}}", json_escape(msg), code);
}

std::string prefix_str(uint8_t family, const uint8_t* bytes, uint8_t len) {
    return fmt::format("{}/{}", net::IpAddr::from_bytes(bytes, family).to_string(), len);
}

std::string policies_json(const Dataplane& dp) {
    std::string s = "[";
    bool first = true;
    for (const tables::PolicyInfo& i : tables::list_policies(dp.sa->tables())) {
        const tables::Policy& p = i.p;
        const char* action = p.action == tables::PolicyAction::protect  ? "protect"
                             : p.action == tables::PolicyAction::bypass ? "bypass"
                                                                        : "discard";
        s += fmt::format(
            "{}{{\"id\":{},\"priority\":{},\"family\":{},\"src\":\"{}\",\"dst\":\"{}\",\"proto\":{},"
            "\"src_port\":\"{}-{}\",\"dst_port\":\"{}-{}\",\"action\":\"{}\",\"sa\":{}}}",
            first ? "" : ",", i.id, p.priority, p.family, prefix_str(p.family, p.src, p.src_len),
            prefix_str(p.family, p.dst, p.dst_len), p.proto, p.src_port_lo, p.src_port_hi, p.dst_port_lo,
            p.dst_port_hi, action, p.action == tables::PolicyAction::protect ? fmt::format("{}", p.sa_id) : "null");
        first = false;
    }
    return s + "]";
}

std::string routes_json(const Dataplane& dp) {
    std::string s = "[";
    bool first = true;
    for (const tables::Route& r : tables::list_routes(dp.sa->tables())) {
        s += fmt::format("{}{{\"prefix\":\"{}\",\"via\":{},\"port\":\"{}\"}}", first ? "" : ",",
                         prefix_str(r.family, r.prefix, r.len),
                         r.via ? fmt::format("\"{}\"", net::IpAddr::from_bytes(r.gateway, r.family).to_string()) : "null",
                         r.port < dp.nb_ports ? json_escape(dp.ports[r.port].name) : std::to_string(r.port));
        first = false;
    }
    return s + "]";
}

std::string counters_json(const Dataplane& dp) {
    return fmt::format("{{\"ports\":{},\"path\":{},\"drops\":{},\"workers\":{},\"sa\":{},\"neighbors\":{}}}",
                       ports_json(dp), total_path_json(dp), total_drops_json(dp), workers_json(dp),
                       dp.sa ? dp.sa->stats_json() : std::string("[]"), neighbors_json(dp));
}

/// Parses a decimal id argument ("5" or "id=5"); false when it is not one.
bool parse_id(const std::vector<std::string>& w, size_t at, uint32_t* id) {
    if (w.size() != at + 1) return false;
    std::string v = w[at];
    if (v.starts_with("id=")) v = v.substr(3);
    if (v.empty() || v.size() > 9) return false;
    uint32_t n = 0;
    for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<uint32_t>(c - '0');
    }
    *id = n;
    return true;
}

std::string write_error(const tables::WriteResult& r) {
    return error_json(r.status == tables::WriteStatus::bad_params ? "bad_request" : "refused", r.error);
}

std::string sa_add(const Dataplane& dp, const std::vector<std::string>& w) {
    std::vector<std::string> kv(w.begin() + 2, w.end());
    SaEntry e;
    try {
        std::string text = key_values_to_toml(kv, "sa");
        e = parse_sa_entry(text, dp.cfg.dataplane);
        explicit_bzero(text.data(), text.size());
    } catch (const ConfigError& ex) {
        for (auto& s : kv) explicit_bzero(s.data(), s.size());
        return error_json("bad_request", ex.what());
    }
    for (auto& s : kv) explicit_bzero(s.data(), s.size());
    tables::SaParams p;
    p.id = e.id;
    p.dir = e.direction == SaDirection::in ? tables::Direction::in : tables::Direction::out;
    p.cfg = e.sa;
    p.enc_keymat = e.enc_keymat;
    p.auth_key = e.auth_key;
    p.life = {e.soft_bytes, e.hard_bytes, e.soft_packets, e.hard_packets};
    tables::WriteResult r = tables::install_sa(dp.sa->tables(), p);
    explicit_bzero(e.enc_keymat.data(), e.enc_keymat.size());
    explicit_bzero(e.auth_key.data(), e.auth_key.size());
    fmt::print(stderr, "espgw-dp: control: sa add id {} {} spi {:#010x}: {}\n", e.id,
               e.direction == SaDirection::in ? "in" : "out", e.sa.spi, r.ok() ? "ok" : r.error);
    if (!r.ok()) return write_error(r);
    return fmt::format("{{\"ok\":true,\"id\":{},\"direction\":\"{}\",\"spi\":{}}}", e.id,
                       e.direction == SaDirection::in ? "in" : "out", e.sa.spi);
}

std::string policy_add(const Dataplane& dp, const std::vector<std::string>& w) {
    PolicyConfig pc;
    try {
        pc = parse_policy_entry(key_values_to_toml(std::vector<std::string>(w.begin() + 2, w.end()), "policy"));
    } catch (const ConfigError& ex) {
        return error_json("bad_request", ex.what());
    }
    uint32_t id = 0;
    tables::WriteResult r = tables::install_policy(dp.sa->tables(), to_table_policy(pc), &id);
    fmt::print(stderr, "espgw-dp: control: policy add: {}\n", r.ok() ? fmt::format("id {}", id) : r.error);
    if (!r.ok()) return write_error(r);
    return fmt::format("{{\"ok\":true,\"id\":{}}}", id);
}

std::string route_change(const Dataplane& dp, const std::vector<std::string>& w, bool add) {
    RouteConfig rc;
    try {
        std::vector<std::string> kv(w.begin() + 2, w.end());
        if (!add && kv.size() == 1 && kv[0].find('=') == std::string::npos) {
            // `route del PREFIX`: the prefix alone.
            auto p = parse_prefix(kv[0]);
            if (!p) throw ConfigError(fmt::format("route.prefix: \"{}\" is not an address/prefix-length", kv[0]));
            rc.prefix = *p;
        } else if (!add) {
            Config c = dp.cfg;
            std::string text = key_values_to_toml(kv, "route");
            if (text.find("port =") == std::string::npos && !c.ports.empty())
                text += fmt::format("port = \"{}\"\n", c.ports[0].name);
            rc = parse_route_entry(text, c);
        } else {
            rc = parse_route_entry(key_values_to_toml(kv, "route"), dp.cfg);
        }
    } catch (const ConfigError& ex) {
        return error_json("bad_request", ex.what());
    }
    tables::WriteResult r;
    if (add) {
        tables::Route t;
        t.family = rc.prefix.addr.family;
        t.len = rc.prefix.len;
        t.port = static_cast<uint16_t>(rc.port);
        std::memcpy(t.prefix, rc.prefix.addr.bytes, 16);
        if (rc.via) {
            t.via = 1;
            std::memcpy(t.gateway, rc.via->bytes, 16);
        }
        r = tables::add_route(dp.sa->tables(), t);
    } else {
        r = tables::del_route(dp.sa->tables(), rc.prefix.addr.family, rc.prefix.addr.bytes, rc.prefix.len);
    }
    fmt::print(stderr, "espgw-dp: control: route {} {}: {}\n", add ? "add" : "del", rc.prefix.to_string(),
               r.ok() ? "ok" : r.error);
    if (!r.ok()) return write_error(r);
    return fmt::format("{{\"ok\":true,\"prefix\":\"{}\"}}", rc.prefix.to_string());
}

constexpr const char* kUsage =
    "unknown command; try: show counters|ports|workers|drops|sa|policies|routes|neighbors, "
    "sa add KEY=VALUE..., sa del ID, policy add KEY=VALUE..., policy del ID, policy list, "
    "route add KEY=VALUE..., route del PREFIX, route list";

std::string answer(const Dataplane& dp, const std::vector<std::string>& w) {
    if (w.empty()) return counters_json(dp);
    if (std::string a = nat::natfw_answer(dp, w); !a.empty()) return a;  // show nat|rules, rules load PATH
    std::string verb = w[0];
    std::string what = w.size() > 1 ? w[1] : "";
    if (verb == "show" && w.size() <= 2) {
        verb = what.empty() ? "stats" : what;
        what.clear();
        if (verb == "counters") verb = "stats";
        if (verb == "policies") verb = "policy", what = "list";
        if (verb == "routes") verb = "route", what = "list";
        if (verb == "sa") what = "list";
    } else if (w.size() == 1) {
        if (verb == "sa") what = "list";
    }
    const bool one = w.size() == 1 || w[0] == "show";
    if (one && verb == "ports") return ports_json(dp);
    if (one && verb == "workers") return workers_json(dp);
    if (one && verb == "drops") return total_drops_json(dp);
    if (one && verb == "neighbors") return neighbors_json(dp);
    if (one && verb == "stats") return counters_json(dp);
    if (!dp.sa) return error_json("refused", "the shared tables are not up");
    if (verb == "sa") {
        if (what == "list" && (w.size() <= 2)) return dp.sa->stats_json();
        if (what == "add") return sa_add(dp, w);
        if (what == "del") {
            uint32_t id = 0;
            if (!parse_id(w, 2, &id)) return error_json("bad_request", "sa del: expected one SA id");
            tables::WriteResult r = tables::delete_sa(dp.sa->tables(), id);
            fmt::print(stderr, "espgw-dp: control: sa del id {}: {}\n", id, r.ok() ? "ok" : r.error);
            if (!r.ok()) return write_error(r);
            return fmt::format("{{\"ok\":true,\"id\":{}}}", id);
        }
    }
    if (verb == "policy") {
        if (what == "list" && w.size() <= 2) return policies_json(dp);
        if (what == "add") return policy_add(dp, w);
        if (what == "del") {
            uint32_t id = 0;
            if (!parse_id(w, 2, &id)) return error_json("bad_request", "policy del: expected one policy id");
            tables::WriteResult r = tables::delete_policy(dp.sa->tables(), id);
            fmt::print(stderr, "espgw-dp: control: policy del id {}: {}\n", id, r.ok() ? "ok" : r.error);
            if (!r.ok()) return write_error(r);
            return fmt::format("{{\"ok\":true,\"id\":{}}}", id);
        }
    }
    if (verb == "route") {
        if (what == "list" && w.size() <= 2) return routes_json(dp);
        if (what == "add" || what == "del") return route_change(dp, w, what == "add");
    }
    return error_json("unknown_command", kUsage);
}

}  // namespace

std::string stats_answer(const Dataplane& dp, const std::string& command) {
    std::vector<std::string> words;
    std::istringstream ss(command);
    for (std::string t; ss >> t;) words.push_back(std::move(t));
    std::string a;
    try {
        a = answer(dp, words);
    } catch (const std::exception& e) {
        a = error_json("refused", e.what());
    }
    for (auto& s : words) explicit_bzero(s.data(), s.size());
    return a + "\n";
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
    // DESIGN.md: the CLI socket is mode 0660, group [dataplane] control_group.
    const std::string& grp_name = dp.cfg.dataplane.control_group;
    struct group gbuf {};
    struct group* g = nullptr;
    std::vector<char> tmp(16384);
    if (getgrnam_r(grp_name.c_str(), &gbuf, tmp.data(), tmp.size(), &g) != 0 || g == nullptr) {
        close(fd_);
        fd_ = -1;
        unlink(path_.c_str());
        throw std::runtime_error(fmt::format("dataplane.control_group: no group named \"{}\"", grp_name));
    }
    if (chown(path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0 || chmod(path_.c_str(), 0660) != 0) {
        int e = errno;
        close(fd_);
        fd_ = -1;
        unlink(path_.c_str());
        throw std::runtime_error(fmt::format("control socket {}: {}", path_, std::strerror(e)));
    }
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
    while (cmd.find('\n') == std::string::npos && cmd.size() < 4096 && poll(&cp, 1, 500) > 0) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        cmd.append(buf, static_cast<size_t>(n));
    }
    std::string line = cmd.substr(0, cmd.find('\n'));
    explicit_bzero(cmd.data(), cmd.size());
    explicit_bzero(buf, sizeof buf);
    std::string answer = line.size() >= 4096 ? error_json("bad_request", "request line longer than 4096 bytes") + "\n"
                                             : stats_answer(dp_, line);
    explicit_bzero(line.data(), line.size());
    size_t off = 0;
    while (off < answer.size()) {
        ssize_t n = write(c, answer.data() + off, answer.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
    }
    close(c);
}

}  // namespace espgw::dp

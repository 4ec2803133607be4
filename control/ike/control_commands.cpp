#include "control/ike/control_commands.hpp"

#include "control/ike/address_pool.hpp"
#include "control/ike/eap_tls.hpp"
#include "control/ike/log.hpp"
#include "control/ike/traffic_selector.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <sstream>

namespace espgw::ike {

std::string json_string(std::string_view s) {
    std::string o = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            o += '\\';
            o += c;
        } else if (u < 0x20) {
            o += fmt::format("\\u{:04x}", u);
        } else {
            o += c;
        }
    }
    return o + "\"";
}

namespace {

std::string error_json(std::string_view code, std::string_view msg) {
    return fmt::format("{{\"error\":{},\"code\":{}}}", json_string(msg), json_string(code));
}

// Splits on blanks without an intermediate copy of the line (requests may carry a
// password: the words are wiped after the answer).
std::vector<std::string> split(std::string_view line) {
    std::vector<std::string> w;
    size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        const size_t b = i;
        while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        if (i > b) w.emplace_back(line.substr(b, i - b));
    }
    return w;
}

struct WipeWords {
    std::vector<std::string>& w;
    ~WipeWords() {
        for (auto& s : w) crypto::secure_wipe(s.data(), s.size());
    }
};

const char* state_name(IkeSaState s) {
    switch (s) {
    case IkeSaState::CREATED: return "created";
    case IkeSaState::INIT_DONE: return "init_done";
    case IkeSaState::ESTABLISHED: return "established";
    case IkeSaState::DELETING: return "deleting";
    }
    return "?";
}

std::string join_ts(const std::vector<TrafficSelector>& ts) {
    std::string s;
    for (const auto& t : ts) s += (s.empty() ? "" : ",") + to_string(t);
    return s;
}

std::string join_algs(const std::vector<Algorithms>& a) {
    std::string s;
    for (const auto& x : a) s += (s.empty() ? "" : ",") + to_string(x);
    return s;
}

std::optional<uint64_t> parse_spi(std::string_view s) {
    if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
    if (s.empty() || s.size() > 16) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        v = v << 4 | static_cast<uint64_t>(d);
    }
    return v;
}

}  // namespace

IkeControl::IkeControl(IkeConfig& live, IkeManager& manager, std::string config_path)
    : live_(live), manager_(manager), config_path_(std::move(config_path)) {}

std::string IkeControl::answer(std::string_view line) {
    try {
        auto w = split(line);
        WipeWords wipe{w};
        auto is = [&](std::initializer_list<std::string_view> want) {
            if (w.size() != want.size()) return false;
            size_t i = 0;
            for (auto x : want)
                if (w[i++] != x) return false;
            return true;
        };
        if (w.empty()) return error_json("bad_request", "empty request");
        if (is({"conn", "list"})) return conn_list();
        if (is({"ike", "sa", "list"})) return sa_list();
        if (w.size() == 4 && w[0] == "ike" && w[1] == "sa" && w[2] == "delete") return sa_delete(w[3]);
        if (w.size() == 3 && w[0] == "conn" && w[1] == "down") return conn_down(w[2]);
        if (w.size() == 3 && w[0] == "conn" && w[1] == "up") return conn_up(w[2]);
        if (is({"show", "ike", "counters"})) return counters();
        if (is({"show", "ike", "radius"})) return radius_status();
        if (is({"pool", "list"})) return pool_list();
        if (is({"show", "users"}) || is({"users"}) || is({"users", "list"})) return users();
        if (is({"reload"})) return reload();
        if (w[0] == "user") return user_command(w);
        if ((w[0] == "ike" && w.size() >= 3 && w[2] == "delete") || (w[0] == "conn" && w.size() >= 2 && (w[1] == "down" || w[1] == "up")))
            return error_json("bad_request", "expected one argument");
        return error_json("unknown_command", fmt::format("unknown command \"{}\"", w[0]));
    } catch (const std::exception& e) {
        return error_json("refused", e.what());
    }
}

std::string IkeControl::conn_list() const {
    std::string o = "[";
    for (const auto& c : live_.connections) {
        if (o.size() > 1) o += ",";
        o += fmt::format(
            "{{\"name\":{},\"local_id\":{},\"remote_id\":{},\"auth\":{},\"pool\":{},\"local_ts\":{},\"remote_ts\":{},"
            "\"ike_proposals\":{},\"esp_proposals\":{},\"ike_sas\":{}}}",
            json_string(c.name), json_string(c.local_id.to_string()), json_string(c.remote_id.to_string()),
            json_string(c.psk ? "psk" : "pubkey"), json_string(fmt::format("{}", fmt::join(c.pools, ","))),
            json_string(join_ts(c.local_ts)),
            json_string(c.remote_ts.empty() ? "dynamic" : join_ts(c.remote_ts)), json_string(join_algs(c.ike_proposals)),
            json_string(join_algs(c.esp_proposals)), [&] {
                size_t n = 0;
                for (uint64_t spi : manager_.spis())
                    if (const IkeSa* sa = manager_.find(spi); sa && sa->conn && sa->conn->name == c.name) ++n;
                return n;
            }());
    }
    return o + "]";
}

std::string IkeControl::sa_list() {
    if (refresh_) refresh_();
    auto counter = [&](uint32_t spi, bool in) -> std::string {
        if (!counters_) return "null";
        const auto c = counters_(spi, in);
        return c ? fmt::format("{{\"packets\":{},\"bytes\":{}}}", c->packets, c->bytes) : "null";
    };
    std::string o = "[";
    for (uint64_t spi : manager_.spis()) {
        const IkeSa* sa = manager_.find(spi);
        if (!sa) continue;
        if (o.size() > 1) o += ",";
        std::string children = "[", summary;
        for (const auto& c : sa->children) {
            if (children.size() > 1) children += ",";
            children += fmt::format(
                "{{\"spi_in\":\"{:08x}\",\"spi_out\":\"{:08x}\",\"mode\":\"{}\",\"esp\":{},\"udp_encap\":{},\"ts_local\":{},"
                "\"ts_remote\":{},\"in\":{},\"out\":{},\"rekeying\":{},\"replaced\":{}}}",
                c.info.spi_in, c.info.spi_out, mode_name(c.info.mode), json_string(to_string(c.info.alg)), c.info.udp_encap,
                json_string(join_ts(c.info.ts_local)), json_string(join_ts(c.info.ts_remote)),
                counter(c.info.spi_in, true), counter(c.info.spi_out, false), c.rekeying, c.replaced);
            summary += fmt::format("{}{:08x}_i/{:08x}_o{}", summary.empty() ? "" : " ", c.info.spi_in, c.info.spi_out,
                                   c.info.mode == ChildMode::transport ? " transport" : "");
        }
        children += "]";
        o += fmt::format(
            "{{\"ike_spi\":\"{:016x}\",\"peer_spi\":\"{:016x}\",\"connection\":{},\"peer\":{},\"identity\":{},"
            "\"state\":\"{}\",\"role\":\"{}\",\"ike\":{},\"nat\":{},\"virtual_ip\":{},\"virtual_ip6\":{},"
            "\"child_sas\":{},\"children\":{}}}",
            sa->spi_r, sa->spi_i, json_string(sa->conn ? sa->conn->name : ""), json_string(to_string(sa->remote)),
            json_string(sa->peer_id.data.empty() ? "" : sa->peer_id.to_string()), state_name(sa->state),
            sa->initiator ? "initiator" : "responder", json_string(to_string(sa->ike_alg)), sa->nat(),
            sa->virtual_ip ? json_string(ipv4_to_string(*sa->virtual_ip)) : "null",
            sa->virtual_ip6 ? json_string(ipv6_to_string(*sa->virtual_ip6)) : "null", json_string(summary), children);
    }
    return o + "]";
}

std::string IkeControl::sa_delete(std::string_view what) {
    std::vector<uint64_t> victims;
    in_addr a{};
    const std::string host(what.substr(0, what.find(':')));
    if (what.find('.') != std::string_view::npos && inet_pton(AF_INET, host.c_str(), &a) == 1) {
        const uint32_t addr = ntohl(a.s_addr);
        std::optional<uint16_t> port;
        if (const size_t colon = what.find(':'); colon != std::string_view::npos)
            port = static_cast<uint16_t>(std::stoul(std::string(what.substr(colon + 1))));
        for (uint64_t spi : manager_.spis())
            if (const IkeSa* sa = manager_.find(spi);
                sa && sa->remote.addr_host == addr && (!port || sa->remote.port == *port))
                victims.push_back(spi);
    } else if (const auto spi = parse_spi(what)) {
        for (uint64_t s : manager_.spis())
            if (const IkeSa* sa = manager_.find(s); sa && (sa->spi_r == *spi || sa->spi_i == *spi)) victims.push_back(s);
    } else {
        return error_json("bad_request", "expected an IKE SPI (hex) or a peer address");
    }
    if (victims.empty()) return error_json("refused", fmt::format("no IKE SA matches \"{}\"", what));
    size_t n = 0;
    for (uint64_t spi : victims)
        if (manager_.delete_ike_sa(spi)) ++n;
    log_info("CLI: delete of {} IKE SA(s) matching {}", n, what);
    return fmt::format("{{\"ok\":true,\"deleted\":{}}}", n);
}

std::string IkeControl::conn_up(std::string_view name) {
    const ConnectionConfig* conn = nullptr;
    for (const auto& c : live_.connections)
        if (c.name == name) conn = &c;
    if (!conn) return error_json("refused", fmt::format("no connection named \"{}\"", name));
    if (!conn->remote_addr) return error_json("refused", fmt::format("connection \"{}\" has no remote_addr: it waits for its peer", name));
    if (!manager_.initiate(std::string(name))) return error_json("refused", fmt::format("cannot initiate \"{}\" (see the log)", name));
    log_info("CLI: conn up {}: IKE_SA_INIT sent", name);
    return "{\"ok\":true,\"initiated\":true}";
}

std::string IkeControl::conn_down(std::string_view name) {
    bool known = false;
    for (const auto& c : live_.connections) known |= c.name == name;
    size_t n = 0;
    for (uint64_t spi : manager_.spis())
        if (const IkeSa* sa = manager_.find(spi); sa && sa->conn && sa->conn->name == name) {
            known = true;
            if (manager_.delete_ike_sa(spi)) ++n;
        }
    if (!known) return error_json("refused", fmt::format("no connection named \"{}\"", name));
    log_info("CLI: conn down {}: delete of {} IKE SA(s)", name, n);
    return fmt::format("{{\"ok\":true,\"deleted\":{}}}", n);
}

namespace {

std::string eap_tls_json() {
    const EapTlsCounters& t = eap_tls_counters();
    return fmt::format(
        "{{\"started\":{},\"succeeded\":{},\"tls12\":{},\"tls13\":{},\"cert_refused\":{},\"oversize\":{},"
        "\"malformed\":{},\"handshake_failed\":{},\"rounds_exceeded\":{},\"fragments_sent\":{},"
        "\"fragments_received\":{}}}",
        t.started, t.succeeded, t.tls12, t.tls13, t.cert_refused, t.oversize, t.malformed, t.handshake_failed,
        t.rounds_exceeded, t.fragments_sent, t.fragments_received);
}

}  // namespace

std::string IkeControl::counters() const {
    const IkeCounters& c = manager_.counters();
    return fmt::format(
        "{{\"ike_sas\":{},\"half_open\":{},\"received\":{},\"parse_errors\":{},\"unknown_spi\":{},\"bad_msg_id\":{},"
        "\"icv_failures\":{},\"retransmits_answered\":{},\"responses_sent\":{},\"requests_sent\":{},"
        "\"retransmits_sent\":{},\"responses_dropped\":{},\"peers_dead\":{},\"cookies_sent\":{},"
        "\"cookies_accepted\":{},\"cookies_rejected\":{},\"half_open_expired\":{},\"child_rekeys\":{},\"child_mode_mismatch\":{},"
        "\"ike_rekeys\":{},\"dpd_sent\":{},\"keepalives_sent\":{},\"fragments\":{},"
        "\"eap_successes\":{},\"eap_failures\":{},\"eap_pending_dropped\":{},\"eap_tls\":{}}}",
        manager_.ike_sa_count(), manager_.half_open_count(), c.received, c.parse_errors, c.unknown_spi, c.bad_msg_id,
        c.icv_failures, c.retransmits_answered, c.responses_sent, c.requests_sent, c.retransmits_sent,
        c.responses_dropped, c.peers_dead, c.cookies_sent, c.cookies_accepted, c.cookies_rejected,
        c.half_open_expired, c.child_rekeys, c.child_mode_mismatch, c.ike_rekeys, c.dpd_sent, c.keepalives_sent, to_json(c.fragments),
        c.eap_successes, c.eap_failures, c.eap_pending_dropped, eap_tls_json());
}

std::string IkeControl::users() const {
    const auto now = Clock::now();
    std::string o = "[";
    for (uint64_t spi : manager_.spis()) {
        const IkeSa* sa = manager_.find(spi);
        if (!sa || sa->state != IkeSaState::ESTABLISHED) continue;
        if (o.size() > 1) o += ",";
        o += fmt::format(
            "{{\"identity\":{},\"connection\":{},\"virtual_ip\":{},\"outer\":{},\"nat\":{},\"user\":{},"
            "\"auth\":{},\"groups\":{},\"virtual_ip6\":{},\"up_s\":{},\"child_sas\":{}}}",
            json_string(sa->peer_id.data.empty() ? "" : sa->peer_id.to_string()),
            json_string(sa->conn ? sa->conn->name : ""),
            sa->virtual_ip ? json_string(ipv4_to_string(*sa->virtual_ip)) : "null", json_string(to_string(sa->remote)),
            sa->nat(), json_string(sa->user),
            json_string(sa->auth_method.empty() ? (sa->conn ? sa->conn->auth : "") : sa->auth_method),
            json_string(fmt::format("{}", fmt::join(sa->groups, ","))),
            sa->virtual_ip6 ? json_string(ipv6_to_string(*sa->virtual_ip6)) : "null",
            std::chrono::duration_cast<std::chrono::seconds>(now - sa->created).count(), sa->children.size());
    }
    return o + "]";
}

std::string IkeControl::pool_list() {
    std::string o = "[";
    for (const auto& [name, pool] : manager_.pools())
        for (const auto& [id, addr] : pool.leases()) {
            if (o.size() > 1) o += ",";
            bool online = false;
            for (uint64_t spi : manager_.spis())
                if (const IkeSa* sa = manager_.find(spi);
                    sa && (pool.family() == 4 ? sa->virtual_ip == addr : sa->virtual_ip6 == ip6_from_pool(addr)))
                    online = true;
            o += fmt::format("{{\"pool\":{},\"identity\":{},\"address\":{},\"online\":{}}}", json_string(name),
                             json_string(id), json_string(pool.to_string(addr)), online);
        }
    return o + "]";
}

bool IkeControl::apply(IkeConfig next, std::string* why) {
    auto& pools = manager_.pools();
    for (const auto& [name, p] : next.pools) {
        auto it = pools.find(name);
        if (it == pools.end()) continue;
        const AddressPool probe(name, p.cidr);
        if ((probe.first() != it->second.first() || probe.last() != it->second.last()) && it->second.leased()) {
            if (why) *why = fmt::format("pool {}: its range changed while it has {} lease(s); restart to apply",
                                        name, it->second.leased());
            return false;
        }
    }
    if (next.listen_addr != live_.listen_addr || next.port != live_.port || next.natt_port != live_.natt_port) {
        if (why) *why = "ike.listen/port/natt_port changed: restart to apply";
        return false;
    }
    if (auto refused = manager_.radius_change_refused(next.radius)) {
        if (why) *why = *refused;
        return false;
    }
    // From here on nothing can fail.
    for (const auto& [name, p] : next.pools) {
        auto it = pools.find(name);
        if (it == pools.end()) {
            pools.emplace(name, AddressPool(name, p.cidr));
        } else if (!it->second.leased() &&
                   (AddressPool(name, p.cidr).first() != it->second.first() ||
                    AddressPool(name, p.cidr).last() != it->second.last())) {
            pools.erase(it);
            pools.emplace(name, AddressPool(name, p.cidr));
        }
    }
    manager_.reconfigure_radius(next.radius);  // issue 6: servers, secrets, timeout without a restart
    retired_.push_back(std::move(live_.connections));  // live IKE SAs still point into it
    live_ = std::move(next);
    return true;
}

std::string IkeControl::reload() {
    IkeConfig next;
    try {
        next = load_config(config_path_);
    } catch (const std::exception& e) {
        log_warn("CLI: reload of {} refused: {}", config_path_, e.what());
        return error_json("refused", fmt::format("configuration refused: {}", e.what()));
    }
    // Issue 6: the user database is re-read with the configuration (its static IPs are
    // checked against the new pools); a broken one refuses the whole reload.
    UserDb next_users;
    if (users_) {
        try {
            next_users = load_users(next, users_);
        } catch (const std::exception& e) {
            log_warn("CLI: reload of {} refused: {}", config_path_, e.what());
            return error_json("refused", fmt::format("user database refused: {}", e.what()));
        }
    }
    std::string why;
    const size_t n = next.connections.size();
    if (!apply(std::move(next), &why)) {
        log_warn("CLI: reload of {} refused: {}", config_path_, why);
        return error_json("refused", why);
    }
    size_t nu = 0;
    if (users_) {
        *users_ = std::move(next_users);
        nu = users_->users().size();
    }
    log_info("CLI: reloaded {}: {} connection(s) for new IKE SAs, {} local user(s)", config_path_, n, nu);
    if (!users_) return fmt::format("{{\"ok\":true,\"connections\":{}}}", n);
    return fmt::format("{{\"ok\":true,\"connections\":{},\"users\":{}}}", n, nu);
}

}  // namespace espgw::ike
